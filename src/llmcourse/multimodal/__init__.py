"""Multimodal models: images and text in one embedding space (CLIP-style contrastive learning)."""
