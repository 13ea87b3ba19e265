"""Shared Streamlit view helpers for pages/. Only views live here; logic is in nyx_core."""
