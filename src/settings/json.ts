/**
 * JSON text exactly as Python's `json.dumps(obj)` writes it with default arguments,
 * which is what RAGFlow's admin service stores in system_settings:
 * separators ", " and ": ", keys in insertion order, non-ASCII escaped as \uXXXX
 * (ensure_ascii=True). Seed row example: {"endpoint": "http://localhost:9385", "timeout": 30}
 */
import {configError} from '../errors.js'

function asciiString(value: string): string {
  // JSON.stringify escapes quotes, backslash and control characters like Python does
  // (\n \r \t \b \f, others as \u00XX lowercase); Python additionally escapes every
  // code unit outside printable ASCII (DEL 0x7f and everything from 0x80 up).
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'))
}

function dump(value: unknown, path: string, seen: Set<object>): string | undefined {
  if (value === null) return 'null'
  if (value !== undefined && typeof value === 'object' && typeof (value as {toJSON?: unknown}).toJSON === 'function') {
    value = (value as {toJSON: (key: string) => unknown}).toJSON('')
  }
  switch (typeof value) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined
    case 'boolean':
      return value ? 'true' : 'false'
    case 'bigint':
      return value.toString()
    case 'number':
      if (!Number.isFinite(value)) {
        throw configError(`Setting value ${path || '(root)'} is ${value}, which JSON cannot represent`, 'INVALID_SETTING_VALUE')
      }
      return JSON.stringify(value)
    case 'string':
      return asciiString(value)
  }
  const obj = value as object
  if (seen.has(obj)) throw configError(`Setting value ${path || '(root)'} contains a circular reference`, 'INVALID_SETTING_VALUE')
  seen.add(obj)
  try {
    if (Array.isArray(obj)) {
      return '[' + obj.map((item, i) => dump(item, `${path}[${i}]`, seen) ?? 'null').join(', ') + ']'
    }
    const parts: string[] = []
    for (const [key, item] of Object.entries(obj)) {
      const text = dump(item, path ? `${path}.${key}` : key, seen)
      if (text !== undefined) parts.push(`${asciiString(key)}: ${text}`)
    }
    return '{' + parts.join(', ') + '}'
  } finally {
    seen.delete(obj)
  }
}

/** Python `json.dumps(value)` (default arguments) for JSON-compatible values. */
export function pythonJsonDumps(value: unknown): string {
  return dump(value, '', new Set()) ?? 'null'
}
