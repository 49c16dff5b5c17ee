"""An attention implementation that returns weights only for the layers a capture needs.

Models whose attention modules dispatch through transformers' ``AttentionInterface``
(BERT, GPT-2, Llama, Qwen2, Mistral and most models of transformers 5.x) run with
``attn_implementation="atlas"``. Outside a capture it behaves like transformers' eager
attention for every layer. Inside :func:`capture_plan` a layer whose module is in the plan
computes eager weights straight into a preallocated ``[head, query, key]`` slot, and every
other layer runs PyTorch's scaled-dot-product attention (SDPA), which is faster and returns
no weights.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from .weight_buffers import POOL

logger = logging.getLogger(__name__)

IMPLEMENTATION = "atlas"
# Keyword arguments that change the attention arithmetic. When one is set, the eager function
# of the module's own modeling file computes the weights instead of the fast path below.
SPECIAL_KWARGS = ("sliding_window", "softcap", "s_aux", "sinks", "head_mask")
SDPA_UNSUPPORTED_KWARGS = ("softcap", "s_aux", "sinks")
# Modeling files whose eager function is exactly: scores times scaling, plus the mask, softmax,
# dropout, times the values (with grouped key/value heads repeated). Their weights come from
# the allocation-free path below; other files' own eager function runs instead.
# Query rows computed in one pass when weights are handed over block by block.
ROW_GROUP = 256
FAST_PATH_MODULES = frozenset(
    {"modeling_bert", "modeling_roberta", "modeling_xlm_roberta", "modeling_gpt2", "modeling_llama", "modeling_qwen2", "modeling_mistral"}
)


@dataclass
class CapturePlan:
    """The attention modules that record weights during one forward pass, and where the weights go.

    ``slots`` maps ``id(module)`` to a float32 tensor ``[head, query, key]`` that the
    module's weights are written into. ``on_weights``, when set, is called with
    ``(module, weights)`` instead of keeping the weights in a slot (used to reduce a layer
    on the fly, so the full tensor of every layer never exists at once).
    """

    slots: dict[int, torch.Tensor | None] = field(default_factory=dict)
    on_weights: Callable[[nn.Module, torch.Tensor], None] | None = None
    # Reused between layers for the raw scores of models in a dtype other than float32.
    workspace: torch.Tensor | None = None
    # Reused between layers for the weights handed to ``on_weights``.
    scratch: torch.Tensor | None = None
    # With ``on_rows`` set, planned layers hand their weights over in spans of whole query
    # blocks: ``on_rows(module, start, stop, weights)`` gets ``[head, stop - start, keys]``.
    # A causal block leaves out the keys after its last query, because the mask gives them
    # exactly zero weight. ``row_blocks`` is the number of blocks.
    on_rows: Callable[[nn.Module, int, int, torch.Tensor], None] | None = None
    row_blocks: int = 64

    def wants(self, module: nn.Module) -> bool:
        return id(module) in self.slots


_ACTIVE_PLAN: contextvars.ContextVar[CapturePlan | None] = contextvars.ContextVar("atlas_capture_plan", default=None)


@contextlib.contextmanager
def capture_plan(plan: CapturePlan) -> Iterator[CapturePlan]:
    """Make ``plan`` the active plan for forward passes run by this thread inside the block."""
    token = _ACTIVE_PLAN.set(plan)
    try:
        yield plan
    finally:
        _ACTIVE_PLAN.reset(token)


def _additive_mask(attention_mask: torch.Tensor | None, module: nn.Module, query: torch.Tensor, key: torch.Tensor, kwargs: dict):
    """Return the float mask that transformers' eager functions expect, from SDPA's boolean mask or None."""
    dtype = query.dtype
    minimum = torch.finfo(dtype).min
    if attention_mask is None:
        is_causal = kwargs.get("is_causal", getattr(module, "is_causal", False))
        query_length, key_length = query.shape[-2], key.shape[-2]
        if not is_causal or query_length == 1:
            return None
        # Bottom-right aligned, as SDPA's mask builder does when keys include a cache.
        allowed = torch.ones(query_length, key_length, dtype=torch.bool, device=query.device).tril(key_length - query_length)
        return torch.zeros((), dtype=dtype, device=query.device).masked_fill(~allowed, minimum)[None, None]
    # Some models build the mask for a longer key cache than this layer reads; eager code slices it.
    attention_mask = attention_mask[..., : key.shape[-2]]
    if attention_mask.dtype == torch.bool:
        return torch.zeros((), dtype=dtype, device=query.device).masked_fill(~attention_mask, minimum)
    return attention_mask


def _expand_heads(states: torch.Tensor, query_heads: int) -> torch.Tensor:
    """Repeat grouped key/value heads so each query head has its own, as transformers' ``repeat_kv`` does."""
    groups = query_heads // states.shape[1]
    if groups == 1:
        return states
    return states.repeat_interleave(groups, dim=1)


def _module_eager(module: nn.Module, query, key, value, attention_mask, **kwargs):
    """Run the eager attention function of the module's own modeling file, with a float mask."""
    eager = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
    if eager is None:
        raise NotImplementedError(f"{type(module).__name__} has no eager_attention_forward in {type(module).__module__}")
    mask = _additive_mask(attention_mask, module, query, key, kwargs)
    kwargs.pop("is_causal", None)
    return eager(module, query, key, value, mask, **kwargs)


def _fast_eager(module, query, key, value, attention_mask, scaling, slot: torch.Tensor, plan: CapturePlan, kwargs):
    """Compute eager attention for batch 1, writing the softmax weights into ``slot`` ``[head, query, key]``.

    The arithmetic and its order match transformers' eager functions (scores, times
    ``scaling``, plus the mask, softmax), so the weights are bitwise the same in float32.
    Softmax runs in float32 for every model dtype, as Llama-family eager code does.
    """
    heads = query.shape[1]
    key_states = _expand_heads(key, heads)
    value_states = _expand_heads(value, heads)
    # In float32 the scores are computed in the slot itself and the softmax overwrites them
    # row by row, so the only memory the layer touches is the memory its weights need anyway.
    scores = slot if query.dtype == slot.dtype else _workspace(plan, slot.shape, query)
    torch.matmul(query[0], key_states[0].transpose(1, 2), out=scores)
    scores.mul_(scaling)
    mask = _additive_mask(attention_mask, module, query, key, kwargs)
    if mask is not None:
        scores.add_(mask[0])
    if scores is slot:
        torch.softmax(slot, dim=-1, out=slot)
    else:
        slot.copy_(torch.softmax(scores, dim=-1, dtype=torch.float32))

    weights = slot if slot.dtype == value_states.dtype else slot.to(value_states.dtype)
    output = torch.matmul(weights, value_states[0])
    return output.transpose(0, 1).unsqueeze(0), slot.unsqueeze(0)


def _workspace(plan: CapturePlan, shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """Return the plan's reusable scores tensor of ``shape`` in ``like``'s dtype, for models that do not run in float32."""
    needed = shape[0] * shape[1] * shape[2]
    workspace = plan.workspace
    if workspace is None or workspace.numel() < needed or workspace.dtype != like.dtype or workspace.device != like.device:
        workspace = plan.workspace = torch.empty(needed, dtype=like.dtype, device=like.device)
    return workspace[:needed].view(shape)


def _row_groups(queries: int, blocks: int, group_rows: int) -> list[list[tuple[int, int]]]:
    """Gather consecutive query blocks into groups of about ``group_rows`` rows, each computed in one pass."""
    groups: list[list[tuple[int, int]]] = [[]]
    for start, stop in _row_blocks(queries, blocks):
        if groups[-1] and stop - groups[-1][0][0] > group_rows:
            groups.append([])
        groups[-1].append((start, stop))
    return groups


def _row_blocked_eager(module, query, key, value, attention_mask, scaling, plan: CapturePlan, kwargs) -> torch.Tensor:
    """Compute eager attention for batch 1 a group of query blocks at a time, handing each block's weights to ``plan.on_rows``.

    No full ``[head, query, key]`` tensor is allocated. Groups of ``ROW_GROUP`` rows keep the
    operations few and large, because many small operations are slow on a busy CPU.
    """
    heads, queries, keys = query.shape[1], query.shape[2], key.shape[2]
    key_states = _expand_heads(key, heads)[0]
    value_states = _expand_heads(value, heads)[0]
    is_causal = attention_mask is None and kwargs.get("is_causal", getattr(module, "is_causal", False)) and queries > 1
    mask = None if is_causal else _additive_mask(attention_mask, module, query, key, kwargs)
    offset = keys - queries
    if is_causal and offset < 0:
        return _module_rows_fallback(module, query, key, value, attention_mask, scaling, plan, kwargs)
    groups = _row_groups(queries, min(queries, plan.row_blocks), ROW_GROUP)
    longest = max(group[-1][1] - group[0][0] for group in groups)
    upper = torch.ones(longest, longest, dtype=torch.bool, device=query.device).triu(1)
    output = torch.empty(queries, heads, value.shape[-1], dtype=value.dtype, device=query.device)
    for group in groups:
        start, stop = group[0][0], group[-1][1]
        visible = min(keys, stop + offset) if is_causal else keys
        scores = torch.matmul(query[0, :, start:stop], key_states[:, :visible].transpose(1, 2))
        scores.mul_(scaling)
        if is_causal:
            # Only the last ``stop - start`` visible keys can come after a query of this group.
            size = stop - start
            scores[:, :, visible - size :].masked_fill_(upper[:size, :size], torch.finfo(scores.dtype).min)
        elif mask is not None:
            scores.add_(mask[0, :, start:stop, :visible])
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32)
        output[start:stop] = torch.matmul(weights.to(value_states.dtype), value_states[:, :visible]).transpose(0, 1)
        plan.on_rows(module, start, stop, weights)
    return output.unsqueeze(0)


def _row_blocks(queries: int, blocks: int) -> list[tuple[int, int]]:
    """Split ``queries`` positions into ``blocks`` nearly equal ``(start, stop)`` ranges, as ``viz.grid.block_edges`` does."""
    return [(index * queries // blocks, (index + 1) * queries // blocks) for index in range(blocks)]


def _module_rows_fallback(module, query, key, value, attention_mask, scaling, plan: CapturePlan, kwargs) -> torch.Tensor:
    """Run the module's own eager function and hand its weights over block by block."""
    output, weights = _module_eager(module, query, key, value, attention_mask, scaling=scaling, **kwargs)
    plan.on_rows(module, 0, query.shape[2], weights[0].float())
    return output


def _weights_slot(plan: CapturePlan | None, module: nn.Module, shape: tuple[int, int, int], device) -> torch.Tensor | None:
    """Return where this module's weights go: its planned slot, a reused scratch tensor, or None for a fresh one."""
    if plan is None:
        return None
    slot = plan.slots.get(id(module))
    if slot is not None:
        return slot if tuple(slot.shape) == shape and slot.device == torch.device(device) else None
    if plan.on_weights is None:
        return None
    needed = shape[0] * shape[1] * shape[2]
    if plan.scratch is None or plan.scratch.numel() < needed or plan.scratch.device != torch.device(device):
        plan.scratch = torch.empty(needed, dtype=torch.float32, device=device)
    return plan.scratch[:needed].view(shape)


def atlas_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
):
    """Attention function registered as ``atlas``: eager weights for planned layers, SDPA for the rest.

    Shapes follow transformers' attention interface: ``query`` is ``[batch, head, query, head_dim]``
    and the output ``[batch, query, head, head_dim]``.
    """
    plan = _ACTIVE_PLAN.get()
    if plan is not None and not plan.wants(module):
        if any(kwargs.get(name) is not None for name in SDPA_UNSUPPORTED_KWARGS):
            # transformers' SDPA path raises for logit soft-capping (Gemma 2) and attention sinks.
            output, _ = _module_eager(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
            return output, None
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)

    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    shape = (query.shape[1], query.shape[2], key.shape[2])
    slot = _weights_slot(plan, module, shape, query.device)
    fast = (
        type(module).__module__.rsplit(".", 1)[-1] in FAST_PATH_MODULES
        and not any(kwargs.get(name) is not None for name in SPECIAL_KWARGS)
        and not dropout
        and query.shape[0] == 1
    )
    if plan is not None and plan.on_rows is not None:
        if fast:
            return _row_blocked_eager(module, query, key, value, attention_mask, scaling, plan, kwargs), None
        return _module_rows_fallback(module, query, key, value, attention_mask, scaling, plan, {**kwargs, "dropout": dropout}), None
    if fast:
        if slot is None:
            slot = torch.empty(shape, dtype=torch.float32, device=query.device)
        output, weights = _fast_eager(module, query, key, value, attention_mask, scaling, slot, plan or CapturePlan(), kwargs)
    else:
        output, weights = _module_eager(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
        if slot is not None and weights is not None and tuple(weights.shape[1:]) == shape:
            slot.copy_(weights[0])
            weights = slot.unsqueeze(0)
    if plan is not None and plan.on_weights is not None:
        plan.on_weights(module, weights)
        return output, None
    return output, weights


def register() -> None:
    """Register the ``atlas`` attention function and its mask builder with transformers (idempotent)."""
    AttentionInterface.register(IMPLEMENTATION, atlas_attention_forward)
    # SDPA's mask builder: a boolean mask, or None when the causal or bidirectional pattern needs none.
    AttentionMaskInterface.register(IMPLEMENTATION, sdpa_mask)


def supports(model: nn.Module) -> bool:
    """Return whether the model's attention modules dispatch through transformers' attention interface."""
    return bool(getattr(type(model), "_supports_attention_backend", False))


def weights_buffer(num_layers: int, heads: int, queries: int, keys: int) -> np.ndarray:
    """Lend the float32 ``[layer, head, query, key]`` array that planned layers write into (see ``weight_buffers``)."""
    return POOL.lend((num_layers, heads, queries, keys))


def plan_for(model: nn.Module, modules: Sequence[nn.Module], buffer: np.ndarray | None = None, on_weights=None) -> CapturePlan | None:
    """Build the plan that records ``modules`` (into ``buffer`` slots in order, or through ``on_weights``).

    Returns None when the model does not dispatch through the attention interface, or when
    one module appears twice (a module shared by several layers cannot own one slot).
    """
    if not supports(model) or len({id(module) for module in modules}) != len(modules):
        return None
    tensor = torch.from_numpy(buffer) if buffer is not None else None
    slots = {id(module): (tensor[index] if tensor is not None else None) for index, module in enumerate(modules)}
    return CapturePlan(slots=slots, on_weights=on_weights)


@contextlib.contextmanager
def planned_forward(model: nn.Module, plan: CapturePlan | None) -> Iterator[CapturePlan | None]:
    """Run the block with ``plan`` active and the model switched to ``atlas``, then switch it back.

    With ``plan`` None the block runs unchanged. The caller holds the model's lock, because
    the implementation is a setting of the shared model.
    """
    if plan is None:
        yield None
        return
    previous = model.config._attn_implementation
    model.set_attn_implementation(IMPLEMENTATION)
    try:
        with capture_plan(plan):
            yield plan
    finally:
        model.set_attn_implementation(previous)


def planned_layers(plan: CapturePlan | None, buffer: np.ndarray | None, weights: Sequence, chosen: Sequence[int]):
    """Return ``(buffer, captured, missing)`` when every chosen layer wrote into its buffer slot, else None.

    ``weights`` are the tensors the hooks recorded per model layer; a layer whose recorded
    tensor is not its slot (a fallback path copied nothing there) sends the caller back to
    stacking the recorded tensors.
    """
    if plan is None or buffer is None:
        return None
    tensor = torch.from_numpy(buffer)
    for index, layer in enumerate(chosen):
        recorded = weights[layer]
        if recorded is None or recorded.dim() != 4 or recorded[0].data_ptr() != tensor[index].data_ptr():
            return None
    return buffer, tuple(chosen), ()


register()


def selective_plan(model: nn.Module, modules: Sequence[nn.Module], heads: int, tokens: int) -> tuple[np.ndarray | None, CapturePlan | None]:
    """Return ``(buffer, plan)`` that record ``modules`` into a fresh ``[layer, head, query, key]`` buffer.

    Both are None when the model cannot run the ``atlas`` implementation; the capture then
    runs the model's own eager attention on every layer.
    """
    if not supports(model) or len({id(module) for module in modules}) != len(modules):
        return None, None
    buffer = weights_buffer(len(modules), heads, tokens, tokens)
    return buffer, plan_for(model, modules, buffer)


def implementation_note(plan: CapturePlan | None, captured: Sequence[int], num_layers: int, configured: str) -> str:
    """Describe which attention arithmetic produced a capture, for its manifest."""
    if plan is None:
        return configured
    if len(captured) == num_layers:
        return "eager"
    return f"eager on layers {list(captured)}, sdpa on the others"
