"""Part B of the demo — diffusion models from scratch on MNIST — one file per chapter:

    checkpoints.py  what Part B shows: the shipped checkpoints (``data/partb/``) or, with ``--train``,
                    models trained here by ``fundiff.train``; their loss logs
    denoiser.py     §1.1 the UNet · §1.2 the one-step denoiser · §1.2.2 other noise levels
    ddpm.py         §2.2 DDPM training (time conditioning, §2.1) · §2.3 DDPM sampling ·
                    §2.5 guided sampling (class conditioning, §2.4)

A section is ``sec_<id>(ctx)`` (:class:`fundiff.demo.context.Ctx`); the table of contents that
names and orders them is :data:`fundiff.demo.sections.SECTIONS`.
"""
