"""Part A of the demo — the power of a pretrained diffusion model — one file per chapter:

    setup.py       what Part A runs on: the plan of each model (which prompts, how many), the test
                   images in the model's shape, the course's timesteps, the (guided) estimators
    pretrained.py  §0    sampling with the pretrained model's own sampler
    denoising.py   §1.1  forward process · §1.2 classical denoising · §1.3 one-step denoising ·
                   §1.4  iterative denoising · §1.5 sampling
    guidance.py    §1.6  classifier-free guidance · §1.7 SDEdit (§1.7.1 web and hand-drawn images,
                   §1.7.2 inpainting, §1.7.3 text-conditional) · §1.8 visual anagrams · §1.9 hybrids

A section is ``sec_<id>(ctx)`` (:class:`fundiff.demo.context.Ctx`); the table of contents that
names and orders them is :data:`fundiff.demo.sections.SECTIONS`.
"""
