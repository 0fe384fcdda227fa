"""The emoji model: a small text-conditioned colour diffusion model in DeepFloyd IF's mould.

Part A of the course is about what a strong pretrained, text-conditioned model can do.  This package
trains and ships one that runs on a laptop CPU: 32×32 RGB emoji pictures (Noto Emoji, Apache 2.0, and
Twemoji, CC BY 4.0) drawn from the sentence embedding of a prompt (all-MiniLM-L6-v2).

    concepts.py   which emoji the shipped model learned, their captions, the course's prompts mapped
    text.py       prompt → embedding (1, 1, 384): the sentence encoder and the shipped embedding table
    train.py      ``python -m fundiff.emoji.train``: the IF-shaped UNet, the hybrid loss, (DDP) training
"""
