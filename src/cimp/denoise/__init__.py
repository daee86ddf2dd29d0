"""Dose transfer: an embedding-conditioned FiLM U-Net that re-renders low-dose images as if
acquired at a higher dose (`cimp train-denoiser`, `cimp denoise`)."""
