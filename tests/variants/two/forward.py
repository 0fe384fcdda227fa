

# ----- correct variants (tests/variants/two) ------------------------------------------------------

def forward_process(x0, eps, t, alphas_cumprod):
    """The course notebook's form, torch.sqrt(ᾱ)·im + torch.sqrt(1 − ᾱ)·noise, with ᾱ indexed here
    (ᾱ_{−1} = 1 prepended) instead of through abar_at."""
    padded = torch.cat([torch.ones(1, dtype=alphas_cumprod.dtype), alphas_cumprod])
    a = padded[torch.as_tensor(t).long() + 1].to(x0.dtype)
    a = a.view(-1, 1, 1, 1) if a.ndim == 1 else a
    return torch.sqrt(a) * x0 + torch.sqrt(1 - a) * eps
