/** Text that came from a sandbox, made safe to print on a terminal. */

// C0 and C1 controls, DEL, and the invisible characters that reorder or break displayed text
// (line/paragraph separators, bidirectional marks, embeddings, overrides and isolates)
export const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/

const UNPRINTABLE_ALL = new RegExp(UNPRINTABLE.source, 'g')

/** A JSON string literal of `text` in which no character in UNPRINTABLE is left raw. */
export function quote(text: string): string {
  return JSON.stringify(text).replace(UNPRINTABLE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** `text` as is when every character is printable, else quote(text). */
export function printable(text: string): string {
  return UNPRINTABLE.test(text) ? quote(text) : text
}
