"""The course sections every graded test belongs to (SPEC.md), in course order."""

SECTIONS = {
    "A0": "sampling with the pretrained model",
    "A1.1": "forward process",
    "A1.2": "classical denoising",
    "A1.3": "one-step denoising",
    "A1.4": "iterative denoising",
    "A1.5": "sampling",
    "A1.6": "classifier-free guidance",
    "A1.7": "image-to-image translation",
    "A1.8": "visual anagrams",
    "A1.9": "hybrid images",
    "B1.1": "UNet",
    "B1.2": "one-step denoiser",
    "B2.1": "time conditioning",
    "B2.2": "DDPM training",
    "B2.3": "DDPM sampling",
    "B2.4": "class conditioning",
    "B2.5": "guided sampling",
}


def section_title(section: str) -> str:
    """'A1.1 forward process' for 'A1.1' (KeyError for an unknown section)."""
    if section not in SECTIONS:
        raise KeyError(f"unknown course section {section!r}: expected one of {list(SECTIONS)}")
    return f"{section} {SECTIONS[section]}"


def section_order(section: str) -> int:
    return list(SECTIONS).index(section)
