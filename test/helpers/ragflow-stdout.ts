/** RAGFlow's old reading of a run's stdout, for the SANDBOX_RESULT_IN_STDOUT tests. */
import {spawnSync} from 'node:child_process'

/** RAGFlow's old code component's reading of stdout (CodeExec._deserialize_stdout), run by python3; the value comes back as JSON. */
export const RAGFLOW_STDOUT_PARSE = `import ast, json, sys
text = sys.stdin.read().strip()
value = ""
if text:
    value = text
    for load in (json.loads, ast.literal_eval):
        try:
            value = load(text)
            break
        except Exception:
            pass
print(json.dumps(value))
`

export function ragflowParse(stdout: string): unknown {
  const r = spawnSync('python3', ['-c', RAGFLOW_STDOUT_PARSE], {input: stdout, encoding: 'utf8'})
  if (r.status !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout)
}
