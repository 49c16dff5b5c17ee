"""Analyses computed from captured attention: pure numpy, no torch and no Streamlit.

Arrays follow the capture layout ``[layer, head, query, key]``: row ``q`` of a head is
the distribution of query token ``q`` over the key tokens.
"""
