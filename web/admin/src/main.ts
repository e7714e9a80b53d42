/**
 * The settings page: provider picker, a form generated from the provider's schema, Test
 * connection, Save, a live panel of the pools (GET /status) and a "try it" box. The API token
 * is typed once and kept in this tab's sessionStorage; it is sent only as a bearer header.
 */
import './style.css'

import {AdminApi, ApiError, type Provider, type RunResult, type Schema, type StatusDocument, type StoredConfig, type TestReport} from './api.js'
import {el, fieldRow, readConfig} from './form.js'

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const TOKEN_KEY = 'sandbox-admin-token'
const POLL_MS = 2000

let api: AdminApi
let providers: Provider[] = []
let stored: StoredConfig
let selected = ''
let schema: Schema = {}
let poller: number | undefined

function notice(message: string | null): void {
  const box = $('notice')
  box.textContent = message ?? ''
  box.hidden = !message
}

function show(target: HTMLElement, ...nodes: Array<Node | string>): void {
  target.replaceChildren(...nodes)
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

const pre = (text: string, label: string, className = '') => el('pre', {className, ariaLabel: label, tabIndex: 0}, text)

function renderProviders(): void {
  const box = $('providers')
  box.replaceChildren(el('legend', {}, 'Choose a provider'))
  for (const p of providers) {
    const id = `provider-${p.id}`
    const radio = el('input', {type: 'radio', name: 'provider', id, value: p.id, checked: p.id === selected})
    radio.addEventListener('change', () => void selectProvider(p.id))
    const tags = el('span', {className: 'tags'}, ...p.tags.map((t) => el('span', {className: 'tag'}, t)))
    box.append(el('div', {className: 'provider'}, radio, el('label', {htmlFor: id}, el('strong', {}, p.name), el('span', {className: 'hint'}, ` ${p.description}`), tags)))
  }
}

let selecting = 0

/**
 * Shows the form of provider `id`. Until its schema has arrived, the form still holds the
 * previous provider's fields, so Test and Save are disabled and the form is marked busy; an
 * answer for a provider the user has since moved away from is dropped. The rendered form
 * carries `data-provider`.
 */
async function selectProvider(id: string): Promise<void> {
  const turn = ++selecting
  selected = id
  show($('config-result'))
  const form = $<HTMLFormElement>('config-form')
  const actions = [$<HTMLButtonElement>('test'), $<HTMLButtonElement>('save')]
  form.setAttribute('aria-busy', 'true')
  delete form.dataset.provider
  for (const button of actions) button.disabled = true
  let next: Schema
  try {
    next = await api.schema(id)
  } catch (error) {
    if (turn !== selecting) return
    form.removeAttribute('aria-busy')
    // the previous provider's fields go, and Test and Save stay off: nothing of two providers is sent
    drawFields('Settings', {})
    // the radio stays on `id`, so choosing it again would fire no change: the retry is a button
    const retry = el('button', {type: 'button', id: 'retry-schema'}, 'Try again')
    retry.addEventListener('click', () => void selectProvider(id))
    show($('config-result'), el('p', {className: 'bad'}, `Cannot load the settings of ${id}: ${messageOf(error)} `, retry))
    return
  }
  if (turn !== selecting) {
    console.debug(`dropped the settings of ${id}: another provider was chosen meanwhile`)
    return
  }
  form.removeAttribute('aria-busy')
  schema = next
  drawFields(`Settings: ${providers.find((p) => p.id === id)?.name ?? id}`, next, id)
  for (const button of actions) button.disabled = false
  form.dataset.provider = id
}

/** The form's fields of `fields` (provider `id`'s schema): the runtime ones under `legend`, the read-only ones under "Deployment". */
function drawFields(legend: string, fields: Schema, id?: string): void {
  // the stored values of the active provider; another provider starts from its defaults (RAGFlow HEAD)
  const active = id !== undefined && id === stored.provider_type
  const values = active ? stored.config : {}
  const runtime = $('runtime-fields')
  runtime.replaceChildren(el('legend', {}, legend))
  const deployment = $('deployment-fields')
  deployment.replaceChildren()
  for (const [name, spec] of Object.entries(fields)) {
    if (spec.readonly) deployment.append(fieldRow(name, spec, spec.default))
    else runtime.append(fieldRow(name, spec, values[name] ?? spec.default, active ? stored.environment?.[name] : undefined))
  }
  $('deployment').hidden = deployment.childElementCount === 0
}

function renderTest(report: TestReport): void {
  const {details} = report
  const nodes: Node[] = [el('p', {className: report.success ? 'ok' : 'bad'}, report.message)]
  const facts = el('dl')
  facts.append(el('dt', {}, 'Exit code'), el('dd', {}, String(details.exit_code ?? '—')))
  facts.append(el('dt', {}, 'Execution time'), el('dd', {}, details.execution_time === null ? '—' : `${details.execution_time.toFixed(2)}s`))
  nodes.push(facts)
  if (details.stdout) nodes.push(el('h3', {}, 'Output'), pre(details.stdout, 'test output'))
  if (details.stderr) nodes.push(el('h3', {}, 'Error output / stack trace'), pre(details.stderr, 'test error output', 'stderr'))
  show($('config-result'), ...nodes)
}

async function busy<T>(button: HTMLButtonElement, target: HTMLElement, work: () => Promise<T>): Promise<void> {
  button.disabled = true
  target.setAttribute('aria-busy', 'true')
  show(target, el('p', {}, 'Working…'))
  try {
    await work()
  } catch (error) {
    show(target, el('p', {className: 'bad'}, messageOf(error)))
  } finally {
    button.disabled = false
    target.removeAttribute('aria-busy')
  }
}

function renderStatus(doc: StatusDocument): void {
  const table = el('table')
  table.append(el('caption', {}, 'Warm containers per language'))
  table.append(el('thead', {}, el('tr', {}, ...['Language', 'Ready', 'Busy', 'Starting', 'Waiting', 'Size'].map((h) => el('th', {scope: 'col'}, h)))))
  const body = el('tbody')
  for (const p of doc.pools) {
    const preloaded = p.kind === 'preloaded'
    const row = el(
      'tr',
      {},
      el('th', {scope: 'row'}, preloaded ? `${p.language} (preloaded)` : p.language),
      ...[p.ready, p.busy, p.creating, p.waiting, p.size].map((n) => el('td', {}, String(n))),
    )
    row.dataset.language = p.language
    if (preloaded) row.dataset.kind = 'preloaded'
    body.append(row)
  }
  table.append(body)
  const outcomes = Object.entries(doc.runs.byStatus)
  const facts = el('dl')
  const fact = (term: string, value: string, key: string) => {
    const dd = el('dd', {}, value)
    dd.dataset.fact = key
    facts.append(el('dt', {}, term), dd)
  }
  fact('Health', `${doc.status} (${doc.phase})${doc.reason ? `: ${doc.reason}` : ''}`, 'health')
  fact('Started', new Date(doc.startedAt).toLocaleString(), 'started')
  fact('Queue', `${doc.admission.queued} waiting · ${doc.admission.executing} running · ${doc.admission.live}/${doc.admission.limit} containers`, 'queue')
  fact('Runs', `${doc.runs.total}${outcomes.length ? ` (${outcomes.map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}`, 'runs')
  show($('pools'), table, facts)
}

async function pollStatus(): Promise<void> {
  try {
    renderStatus(await api.status())
  } catch (error) {
    show($('pools'), el('p', {className: 'bad'}, `Status unavailable: ${messageOf(error)}`))
  }
}

function renderRun(provider: string, result: RunResult): void {
  const nodes: Node[] = [
    el(
      'p',
      {className: result.status === 'success' ? 'ok' : 'bad'},
      `${result.status} · exit code ${result.exit_code} · ${provider}${result.time_used_ms !== undefined ? ` · ${result.time_used_ms} ms` : ''}`,
    ),
  ]
  if (result.detail) nodes.push(el('p', {className: 'hint'}, result.detail))
  nodes.push(el('h3', {}, 'stdout'), pre(result.stdout, 'stdout'))
  if (result.stderr) nodes.push(el('h3', {}, 'stderr'), pre(result.stderr, 'stderr', 'stderr'))
  if (result.result?.present) nodes.push(el('h3', {}, 'Result'), pre(JSON.stringify(result.result.value, null, 2), 'result'))
  const images = (result.artifacts ?? []).filter((a) => /^image\/(png|jpeg|gif|webp|svg\+xml)$/.test(a.mime_type))
  if (images.length) {
    nodes.push(el('h3', {}, 'Images'))
    for (const a of images)
      nodes.push(el('figure', {}, el('img', {src: `data:${a.mime_type};base64,${a.content_b64}`, alt: a.name}), el('figcaption', {}, `${a.name} (${a.size} bytes)`)))
  }
  const others = (result.artifacts ?? []).filter((a) => !images.includes(a))
  if (others.length) nodes.push(el('p', {}, `Other files: ${others.map((a) => `${a.name} (${a.mime_type}, ${a.size} bytes)`).join(', ')}`))
  show($('try-result'), ...nodes)
}

async function connect(token: string): Promise<void> {
  api = new AdminApi(token)
  try {
    ;[providers, stored] = await Promise.all([api.providers(), api.config()])
  } catch (error) {
    notice(error instanceof ApiError && error.status === 401 ? 'Wrong API token' : `Cannot reach the admin API: ${(error as Error).message}`)
    return
  }
  sessionStorage.setItem(TOKEN_KEY, token)
  notice(null)
  selected = stored.provider_type
  $('active-name').textContent = providers.find((p) => p.id === selected)?.name ?? selected
  renderProviders()
  await selectProvider(selected)
  document.querySelector('main')!.hidden = false
  window.clearInterval(poller)
  await pollStatus()
  poller = window.setInterval(() => void pollStatus(), POLL_MS)
}

function wire(): void {
  $<HTMLFormElement>('token-form').addEventListener('submit', (event) => {
    event.preventDefault()
    void connect($<HTMLInputElement>('token').value.trim())
  })
  const form = $<HTMLFormElement>('config-form')
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    void busy($<HTMLButtonElement>('save'), $('config-result'), async () => {
      const saved = await api.save(selected, readConfig(form, schema))
      stored = await api.config()
      $('active-name').textContent = providers.find((p) => p.id === saved.provider_type)?.name ?? saved.provider_type
      await selectProvider(selected)
      show($('config-result'), el('p', {className: 'ok'}, `Saved: ${saved.provider_type} is the active provider`))
    })
  })
  $<HTMLButtonElement>('test').addEventListener('click', () => {
    void busy($<HTMLButtonElement>('test'), $('config-result'), async () => renderTest(await api.test(selected, readConfig(form, schema))))
  })
  const tryForm = $<HTMLFormElement>('try-form')
  tryForm.addEventListener('submit', (event) => {
    event.preventDefault()
    void busy($<HTMLButtonElement>('try-run'), $('try-result'), async () => {
      let args: unknown
      try {
        args = JSON.parse($<HTMLTextAreaElement>('try-arguments').value.trim() || '{}')
      } catch {
        throw new Error('Arguments must be a JSON object')
      }
      if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new Error('Arguments must be a JSON object')
      const {provider, result} = await api.run($<HTMLTextAreaElement>('try-code').value, $<HTMLSelectElement>('try-language').value, args as Record<string, unknown>)
      renderRun(provider, result)
    })
  })
  const token = sessionStorage.getItem(TOKEN_KEY)
  if (token) void connect(token)
}

wire()
