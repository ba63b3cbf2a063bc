// The theoretical densities drawn over the histogram, from the answer's canonical init and moments.

const SQRT2 = Math.SQRT2;
const SQRT2PI = Math.sqrt(2 * Math.PI);

/** erf(x), Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7: enough to draw). */
export function erf(x) {
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign * (1 - poly * Math.exp(-a * a));
}

const phi = (z) => Math.exp(-0.5 * z * z) / SQRT2PI;
const Phi = (z) => 0.5 * (1 + erf(z / SQRT2));

/**
 * The density of the distribution the answer's `init` samples from:
 * {kind: "normal"|"truncated_normal"|"uniform"|"none", pdf(x), low, high, label}.
 * normal: N(mean, variance); uniform: 1/(high-low) on [low, high]; truncated normal:
 * phi((x-mu)/sigma) / (sigma (Phi(beta) - Phi(alpha))) on [low, high], with mu and sigma the
 * untruncated normal's (the scheme's own mean and std; the variance-scaling family truncates at
 * +-2 sigma around 0, so sigma = (high - low) / 4).
 */
export function densityOf(init, theoretical) {
  const { mean, std, low, high } = theoretical;
  const kind = ["normal", "uniform", "truncated_normal"].includes(init.scheme) ? init.scheme : init.distribution;
  if (kind === "normal" && std > 0) {
    return { kind, low: null, high: null, label: `N(${fmt(mean)}, ${fmt(std)}²)`, pdf: (x) => phi((x - mean) / std) / std };
  }
  if (kind === "uniform" && low !== null && high !== null && high > low) {
    const height = 1 / (high - low);
    return { kind, low, high, label: `U(${fmt(low)}, ${fmt(high)})`, pdf: (x) => (x >= low && x <= high ? height : 0) };
  }
  if (kind === "truncated_normal" && low !== null && high !== null && high > low) {
    const mu = init.scheme === "truncated_normal" ? init.mean : (low + high) / 2;
    const sigma = init.scheme === "truncated_normal" ? init.std : (high - low) / 4;
    const mass = Phi((high - mu) / sigma) - Phi((low - mu) / sigma);
    return {
      kind,
      low,
      high,
      label: `N(${fmt(mu)}, ${fmt(sigma)}²) on [${fmt(low)}, ${fmt(high)}]`,
      pdf: (x) => (x >= low && x <= high ? phi((x - mu) / sigma) / (sigma * mass) : 0),
    };
  }
  return { kind: "none", low, high, label: "no closed-form density drawn", pdf: null };
}

/** A number for people: 4 significant digits, exponent when needed. */
export function fmt(x) {
  if (x === null || x === undefined) return "–";
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e5 ? String(Number(x.toPrecision(4))) : x.toExponential(3);
}
