// Finds where a JSON text stops being valid, for the line/column of a parse error. JSON.parse on Node 20 does
// not always say where (and its message quotes the input). Runs only after JSON.parse failed; iterative, so
// deep nesting cannot overflow the stack.
const STRING = /"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const LITERAL = /true|false|null/y;
const WHITESPACE = /[ \t\n\r]*/y;

const enum Expect { Value, ValueOrEnd, Key, KeyOrEnd, After }

/** Offset of the first syntax error, or -1 when the text is valid JSON. */
export function jsonErrorOffset(text: string): number {
  const stack: boolean[] = []; // true = object, false = array
  let state: Expect = Expect.Value;
  let i = 0;
  const match = (re: RegExp): boolean => {
    re.lastIndex = i;
    if (!re.test(text)) return false;
    i = re.lastIndex;
    return true;
  };
  for (;;) {
    match(WHITESPACE);
    const c = text[i];
    if (state === Expect.Value || state === Expect.ValueOrEnd) {
      if (state === Expect.ValueOrEnd && c === ']') {
        stack.pop();
        i++;
        state = Expect.After;
      } else if (c === '{') {
        stack.push(true);
        i++;
        state = Expect.KeyOrEnd;
      } else if (c === '[') {
        stack.push(false);
        i++;
        state = Expect.ValueOrEnd;
      } else if (match(STRING) || match(NUMBER) || match(LITERAL)) {
        state = Expect.After;
      } else {
        return i;
      }
    } else if (state === Expect.Key || state === Expect.KeyOrEnd) {
      if (state === Expect.KeyOrEnd && c === '}') {
        stack.pop();
        i++;
        state = Expect.After;
      } else if (match(STRING)) {
        match(WHITESPACE);
        if (text[i] !== ':') return i;
        i++;
        state = Expect.Value;
      } else {
        return i;
      }
    } else {
      if (stack.length === 0) return i < text.length ? i : -1;
      const inObject = stack[stack.length - 1];
      if (c === ',') state = inObject ? Expect.Key : Expect.Value;
      else if (c === (inObject ? '}' : ']')) stack.pop();
      else return i;
      i++;
    }
  }
}
