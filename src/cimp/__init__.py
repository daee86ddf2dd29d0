"""cimp: Contrastive Image-Metadata Pre-training for electron microscopy."""

__version__ = "0.1.0"
