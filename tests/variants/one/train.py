

# ----- correct variants (tests/variants/one) ------------------------------------------------------

def add_noise(x, sigma, noise):
    """z = x + σ·ε with torch.add(alpha=σ)."""
    return torch.add(x, noise, alpha=float(sigma))


def denoiser_loss(model, x, sigma, noise):
    """The mean of the squared errors written out."""
    return ((model(add_noise(x, sigma, noise)) - x) ** 2).mean()


def ddpm_schedule(beta1=1e-4, beta2=0.02, num_ts=300):
    """β, α and ᾱ computed in float64 (a more accurate cumprod), cast to float32."""
    betas = torch.linspace(beta1, beta2, num_ts, dtype=torch.float64)
    alphas = 1 - betas
    return {"betas": betas.float(), "alphas": alphas.float(), "alphas_cumprod": torch.cumprod(alphas, 0).float()}


def normalize_t(t, num_ts):
    """True division of the integer tensor (float32 by default)."""
    return t / (num_ts - 1)


def class_vector(labels, drop, num_classes=10):
    """scatter ones into zeros, then torch.where for the dropped rows."""
    c = torch.zeros(len(labels), num_classes).scatter(1, labels[:, None], 1.0)
    return torch.where(drop[:, None], torch.zeros(()), c)


def ddpm_loss(model, x0, t, eps, alphas_cumprod, c=None):
    """x_t written out with ᾱ_t as (B, 1, 1, 1); the loss as the mean squared error."""
    a = alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    tn = normalize_t(t, len(alphas_cumprod))
    eps_hat = model(x_t, tn) if c is None else model(x_t, tn, c)
    return (eps_hat - eps).pow(2).mean()


def ddpm_step(x_t, eps_hat, t, schedule, z):
    """The course's (DDPM Algorithm 2) form: x_{t−1} = (x_t − β_t/√(1 − ᾱ_t)·ε̂)/√α_t + √β_t·z
    (z = 0 at t = 0), which is the posterior mean of x̂₀ and x_t written differently."""
    beta, alpha, abar = schedule["betas"][t], schedule["alphas"][t], schedule["alphas_cumprod"][t]
    mean = (x_t - beta / (1 - abar).sqrt() * eps_hat) / alpha.sqrt()
    return mean if t == 0 else mean + beta.sqrt() * z


def cfg_noise(model, x_t, t_norm, c, guidance_scale):
    """One batched pass over [x_t; x_t] with [c; 0], then lerp(ε_u, ε_c, γ)."""
    out = model(torch.cat([x_t, x_t]), torch.cat([t_norm, t_norm]), torch.cat([c, torch.zeros_like(c)]))
    eps_c, eps_u = out.chunk(2)
    return torch.lerp(eps_u, eps_c, float(guidance_scale))
