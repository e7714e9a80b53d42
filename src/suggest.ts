/** "Did you mean": the nearest of a list of names (unknown commands, unknown flags). */

/** Levenshtein distance (insert, delete, substitute; an adjacent swap counts as one edit). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({length: a.length + 1}, (_, i) => [i, ...Array.from({length: b.length}, (_, j) => (i === 0 ? j + 1 : 0))])
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/**
 * The candidate nearest to `input`, or undefined when none is close enough to be a plausible
 * typo (at most a third of the longer name, at least 1 edit) and no candidate starts with it.
 */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  const needle = input.toLowerCase()
  let best: {name: string; distance: number} | undefined
  for (const name of candidates) {
    const distance = editDistance(needle, name.toLowerCase())
    if (!best || distance < best.distance) best = {name, distance}
  }
  if (best && best.distance <= Math.max(1, Math.floor(Math.max(needle.length, best.name.length) / 3))) return best.name
  const prefixed = candidates.filter((c) => c.toLowerCase().startsWith(needle) && needle.length >= 2)
  return prefixed.length === 1 ? prefixed[0] : undefined
}
