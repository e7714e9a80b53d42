/**
 * A provider's schema → form fields, and the form → the config to send. Secrets are never put
 * into an input (the API answers them masked) and a blank secret is left out of the config, so
 * the stored value stays. Read-only deployment fields are shown disabled and never sent.
 */
import type {Schema, SchemaField as FieldSpec} from './api.js'

/** An element with properties (textContent-safe: children are nodes or text, never HTML). */
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, unknown> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] => {
  const node: HTMLElementTagNameMap[K] = document.createElement(tag)
  Object.assign(node, props)
  node.append(...children)
  return node
}

export {el}

const inputId = (name: string) => `field-${name}`

function control(name: string, spec: FieldSpec, value: unknown, masked: boolean): HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement {
  const id = inputId(name)
  const disabled = Boolean(spec.readonly)
  if (spec.type === 'boolean') {
    return el('input', {id, name, type: 'checkbox', checked: value === true, disabled})
  }
  if (spec.type === 'integer') {
    const input = el('input', {id, name, type: 'number', step: '1', disabled, value: value === undefined || value === null ? '' : String(value)})
    if (spec.min !== undefined) input.min = String(spec.min)
    if (spec.max !== undefined) input.max = String(spec.max)
    return input
  }
  if (spec.options?.length && !spec.secret) {
    const select = el('select', {id, name, disabled})
    if (!spec.required) select.append(el('option', {value: ''}, '—'))
    for (const option of spec.options) select.append(el('option', {value: option, selected: option === value}, option))
    return select
  }
  if (spec.type === 'json' || spec.multiline) {
    const text = spec.type === 'json' && value !== undefined && typeof value !== 'string' ? JSON.stringify(value, null, 2) : String(value ?? '')
    return el('textarea', {id, name, rows: spec.type === 'json' ? 4 : 3, disabled, value: spec.secret ? '' : text, spellcheck: false})
  }
  const input = el('input', {id, name, type: spec.secret ? 'password' : 'text', disabled, autocomplete: 'off', spellcheck: false})
  if (spec.secret) {
    // the stored secret never comes back: an empty box keeps it
    input.placeholder = masked ? `set (${String(value)}); leave blank to keep it` : (spec.placeholder ?? '')
  } else {
    input.value = value === undefined || value === null ? '' : String(value)
    if (spec.placeholder) input.placeholder = spec.placeholder
  }
  return input
}

/** One labelled field: label (with * when required), control, description and range as its accessible description. */
export function fieldRow(name: string, spec: FieldSpec, value: unknown, environment?: string): HTMLElement {
  const id = inputId(name)
  const masked = Boolean(spec.secret && typeof value === 'string' && value !== '')
  const input = control(name, spec, value, masked)
  const label = el('label', {htmlFor: id}, spec.label ?? name)
  if (spec.required && !spec.readonly) label.append(el('span', {className: 'required', title: 'required'}, ' *'))
  if (spec.readonly) label.append(el('span', {className: 'badge'}, ' read-only'))
  const notes: string[] = []
  if (spec.description) notes.push(spec.description)
  if (spec.type === 'integer' && (spec.min !== undefined || spec.max !== undefined)) notes.push(`Minimum: ${spec.min ?? '…'} • Maximum: ${spec.max ?? '…'}`)
  if (environment) notes.push(`The manager's environment sets this (${environment}); it beats the stored value.`)
  const row = el('div', {className: `field field-${spec.type}`})
  row.dataset.field = name
  if (notes.length) {
    const help = el('p', {id: `${id}-help`, className: 'hint'}, notes.join(' '))
    input.setAttribute('aria-describedby', help.id)
    row.append(label, input, help)
  } else {
    row.append(label, input)
  }
  if (spec.required && !spec.readonly && !masked) input.setAttribute('aria-required', 'true')
  return row
}

/**
 * The config the form says. Integers that are not whole numbers are sent as typed so the server
 * answers RAGFlow's message; JSON fields must parse here (a clear error before anything is sent).
 */
export function readConfig(form: HTMLFormElement, schema: Schema): Record<string, unknown> {
  const config: Record<string, unknown> = {}
  for (const [name, spec] of Object.entries(schema)) {
    if (spec.readonly) continue
    const input = form.elements.namedItem(name) as HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement | null
    if (!input) continue
    if (spec.type === 'boolean') {
      config[name] = (input as HTMLInputElement).checked
      continue
    }
    const raw = input.value.trim()
    if (raw === '') continue
    if (spec.type === 'integer') config[name] = /^[+-]?\d+$/.test(raw) ? Number(raw) : raw
    else if (spec.type === 'json') {
      try {
        config[name] = JSON.parse(raw)
      } catch {
        throw new Error(`Field '${name}' must be valid JSON`)
      }
    } else config[name] = raw
  }
  return config
}
