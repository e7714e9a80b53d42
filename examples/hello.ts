// Say hello in TypeScript. Run: sandbox run examples/hello.ts --arg name=World
interface Args {
  name?: string
}

export async function main({name = 'World'}: Args = {}): Promise<{greeting: string; length: number}> {
  console.log(`Hello from TypeScript, ${name}!`)
  return {greeting: `Hello, ${name}!`, length: name.length}
}
