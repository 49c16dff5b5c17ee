"""Simplified Chinese messages; a missing key falls back to English.

Terms follow Chinese machine-learning textbooks: 层 (layer), 注意力头 (head, 头 in short
labels), 查询 and 键 with query and key in brackets on first mention, 权重 (weight).
Transformer, token, Q/K/V, [UNK] and file formats stay in English, as Chinese readers
expect. Keys are grouped in the same order as messages_en.py.
"""

MESSAGES: dict[str, str] = {
    # App and navigation
    "app.title": "Attention Atlas",
    "app.caption": "查看 Transformer 每一层、每个注意力头把注意力放在哪里。",
    "nav.heads": "注意力头",
    "nav.overview": "模型总览",
    # Sidebar
    "sidebar.language": "语言",
    "sidebar.model": "模型",
    "sidebar.model_help": "Hugging Face 模型 ID（owner/name）、本地文件夹，或填写 all-MiniLM-L6-v2 使用内置模型。",
    "sidebar.text": "文本",
    "sidebar.text_help": "要输入模型的句子。",
    "sidebar.run": "运行",
    "sidebar.example": "例句",
    "sidebar.example_placeholder": "选择一个例句…",
    "sidebar.example_help": "把例句填入文本框并立即运行。",
    "sidebar.example_option": "{label}：{text}",
    # Example sentences (labels only; the sentences themselves are in i18n/examples.py)
    "example.cat": "英文，指代消解",
    "example.trophy": "英文，Winograd 指代难题",
    "example.chinese": "中文，每个汉字一个 token",
    "example.mixed": "中英文混合",
    "example.cjk_note": "内置模型 all-MiniLM-L6-v2 使用不区分大小写的英文 WordPiece 词表：每个汉字单独成为一个 token，词表里没有的汉字会变成 [UNK]。",
    # Errors: the detail comes from model_utils and stays in English
    "error.frame": "{summary}。详细信息（英文）：{detail}",
    # Loading and capture
    "load.status": "正在加载模型 {model}…",
    "load.done": "模型 {model} 已加载。",
    "load.failed": "模型加载失败",
    "capture.failed": "无法提取注意力权重",
    "capture.truncated": "文本超出模型上限，已截断为 {kept} 个 token，丢弃了 {dropped} 个 token。",
    "capture.summary": "{model} · {tokens} 个 token · {layers} 层 × {heads} 个注意力头 · {implementation} 注意力实现",
    # Shared terms, used in axis titles and short labels
    "common.layer": "层",
    "common.head": "头",
    "common.query": "查询（query）",
    "common.key": "键（key）",
    "common.weight": "权重",
    # Heads page
    "heads.title": "注意力头",
    "heads.intro": "选择一层和一个注意力头。每行是一个查询（query）token，每列是一个键（key）token：一行显示该 token 把注意力分配给了哪些 token。",
    "heads.layer": "层",
    "heads.head": "注意力头",
    "heads.rescale": "按该注意力头的取值范围重设色标",
    "heads.rescale_help": "关闭时色标固定为 0–1，不同注意力头之间可以公平比较。",
    "heads.heatmap_title": "第 {layer} 层，头 {head}",
    "heads.flow_title": "Token 流向图，第 {layer} 层",
    "heads.flow_heads": "流向图中的注意力头",
    "heads.threshold": "隐藏权重低于此值的连线",
    "heads.flow_strongest_keys": "权重最大的键（各注意力头取平均）：",
    "heads.focus": "聚焦的 token",
    "heads.focus_none": "（全部 token）",
    "heads.selected_cell": "已选中：查询 {query}“{query_token}”→ 键 {key}“{key_token}”，权重 {weight:.4f}",
    # Model overview page
    "overview.title": "模型总览",
    "overview.intro": "一次查看所有层 × 所有注意力头。点击缩略图可在“注意力头”页面打开它。",
    "overview.compare": "比较注意力头",
    "overview.compare_help": "从任意层中选择二至四个注意力头；前两个还会多出一张差值图。",
    "overview.pick": "要比较的注意力头",
    "overview.pick_hint": "至少选择两个注意力头才能进行比较。",
    "overview.pick_limit": "最多只能选择四个注意力头，当前已选 {count} 个。",
    "overview.difference": "{first} 减去 {second}",
    # Downloads
    "export.title": "下载",
    "export.static_failed": "静态导出（{format}）失败：{reason} HTML、CSV、NPZ 和 JSON 下载仍然可用。",
    "export.prepare": "生成 PNG、SVG 和 PDF",
    "export.prepare_help": "静态图片由 kaleido 调用 Chromium 渲染，需要一两秒。",
    "export.rendering": "正在渲染 PNG、SVG 和 PDF…",
    "export.no_browser": "无法生成 PNG、SVG 和 PDF：{reason} HTML、CSV、NPZ 和 JSON 下载仍然可用。",
    "export.timed_out": "{format} 导出未能在 {seconds} 秒内完成，已停止。HTML、CSV、NPZ 和 JSON 下载仍然可用。",
    "export.text_too_large": "此文本不提供 CSV 和 JSON 下载：文件将包含 {count} 个权重（上限 {limit}）。请下载 NPZ，或缩短文本。",
    "export.csv_decoder_attentions": "CSV（解码器自注意力）",
    "export.csv_cross_attentions": "CSV（交叉注意力）",
}
