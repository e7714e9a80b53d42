// Say hello. Run: sandbox run examples/hello.js --arg name=World
async function main({name = 'World'} = {}) {
  console.log(`Hello from Node.js, ${name}!`)
  return {greeting: `Hello, ${name}!`, length: name.length}
}

module.exports = {main}
