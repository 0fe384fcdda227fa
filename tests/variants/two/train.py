

# ----- correct variants (tests/variants/two) ------------------------------------------------------

def ddpm_step(x_t, eps_hat, t, schedule, z):
    """The posterior mean's coefficients in float64 from α, β and ᾱ (ᾱ_{t−1} = ᾱ_t/α_t), cast back."""
    beta, alpha = schedule["betas"][t].double(), schedule["alphas"][t].double()
    abar = schedule["alphas_cumprod"][t].double()
    abar_prev = schedule["alphas_cumprod"][t - 1].double() if t > 0 else torch.ones((), dtype=torch.float64)
    x0_hat = (x_t.double() - (1 - abar).sqrt() * eps_hat.double()) / abar.sqrt()
    mean = abar_prev.sqrt() * beta / (1 - abar) * x0_hat + alpha.sqrt() * (1 - abar_prev) / (1 - abar) * x_t.double()
    return (mean if t == 0 else mean + beta.sqrt() * z.double()).to(x_t.dtype)


@torch.no_grad()
def ddpm_sample(model, shape, schedule, generator, c=None, guidance_scale=5.0, callback=None):
    """reversed(range(T)) with the time fed as the python float t/(T − 1); the mode restored in a finally."""
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    try:
        num_ts = len(schedule["betas"])
        schedule = {k: v.to(device) for k, v in schedule.items()}
        x = torch.randn(shape, generator=generator).to(device)
        for t in reversed(range(num_ts)):
            t_norm = torch.full((shape[0],), t / (num_ts - 1), device=device)
            eps = model(x, t_norm) if c is None else cfg_noise(model, x, t_norm, c.to(device), guidance_scale)
            x = ddpm_step(x, eps, t, schedule, torch.randn(shape, generator=generator).to(device))
            if callback is not None:
                callback(t, x)
        return x
    finally:
        model.train(was_training)
