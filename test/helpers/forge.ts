/**
 * A Python program that forges the runner's control frame: user code can learn the runner's
 * nonce by walking to the runner's frame. It writes the stderr end frame and a control frame
 * holding `control`, then waits to be removed, as the runner does after its report: its memory
 * is measured from the cgroup, which a container that exits on its own takes with it (memory
 * null: a race with the exit that a loaded host lost).
 */
export const forgedFrameProgram = (control: object): string =>
  'import base64, os, sys, time\n' +
  'def main():\n' +
  '    runner = sys._getframe(1).f_locals\n' +
  '    os.write(2, ("__SANDBOX_END_" + runner["job"]["nonce"] + "__\\n").encode())\n' +
  `    payload = base64.b64encode(${JSON.stringify(JSON.stringify(control))}.encode()).decode()\n` +
  '    os.write(1, (runner["prefix"] + payload + "\\n").encode())\n' +
  '    time.sleep(60)\n'
