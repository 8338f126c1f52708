// Browser stand-in for node:crypto: the shared identifier checks import it only for server-side helpers
// (randomToken, secretsEqual), which the browser never calls.
function serverOnly(): never {
  throw new Error('node:crypto is not available in the browser');
}
export const randomBytes = serverOnly;
export const timingSafeEqual = serverOnly;
export default { randomBytes, timingSafeEqual };
