// A small BER/DER reader for the hot verification path. asn1js.fromBER needs ~3 ms for a 20 KB CMS, which is ten
// times a brainpool verify; walking the TLVs by hand keeps parsing well below the signature math.
// Building structures (certificates, CMS, OCSP) is done with asn1js/pkijs; this file only reads.

export class DerError extends Error {
  override name = 'DerError';
}

export interface Tlv {
  buf: Buffer;
  /** Tag class: 0 universal, 1 application, 2 context, 3 private. */
  cls: number;
  constructed: boolean;
  tagNumber: number;
  /** Offset of the identifier octet. */
  start: number;
  valueStart: number;
  /** End of the value (without the end-of-contents octets of an indefinite length). */
  valueEnd: number;
  /** End of the whole element. */
  end: number;
}

export const TAG = {
  BOOLEAN: 1, INTEGER: 2, BIT_STRING: 3, OCTET_STRING: 4, NULL: 5, OID: 6, ENUMERATED: 10, UTF8_STRING: 12,
  SEQUENCE: 16, SET: 17, PRINTABLE_STRING: 19, T61_STRING: 20, IA5_STRING: 22, UTC_TIME: 23, GENERALIZED_TIME: 24,
  BMP_STRING: 30,
} as const;

const MAX_DEPTH = 64;

/** Reads one element at `offset`; the element must end before `limit`. */
export function readTlv(buf: Buffer, offset = 0, limit = buf.length, depth = 0): Tlv {
  if (depth > MAX_DEPTH) throw new DerError('nesting too deep');
  let p = offset;
  if (p >= limit) throw new DerError(`truncated at ${p}`);
  const id = buf[p++];
  const cls = id >> 6;
  const constructed = (id & 0x20) !== 0;
  let tagNumber = id & 0x1f;
  if (tagNumber === 0x1f) {
    tagNumber = 0;
    for (let i = 0; ; i++) {
      if (p >= limit || i > 3) throw new DerError(`bad tag at ${offset}`);
      const b = buf[p++];
      tagNumber = tagNumber * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
  }
  if (p >= limit) throw new DerError(`truncated length at ${offset}`);
  const first = buf[p++];
  if (first === 0x80) {
    // Indefinite length (BER): children up to the end-of-contents octets 00 00.
    if (!constructed) throw new DerError(`indefinite length on a primitive at ${offset}`);
    const valueStart = p;
    while (true) {
      if (p + 1 >= limit) throw new DerError(`missing end-of-contents for element at ${offset}`);
      if (buf[p] === 0 && buf[p + 1] === 0) break;
      p = readTlv(buf, p, limit, depth + 1).end;
    }
    return { buf, cls, constructed, tagNumber, start: offset, valueStart, valueEnd: p, end: p + 2 };
  }
  let len = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n > 4) throw new DerError(`length too large at ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) {
      if (p >= limit) throw new DerError(`truncated length at ${offset}`);
      len = len * 256 + buf[p++];
    }
  }
  const end = p + len;
  if (end > limit) throw new DerError(`element at ${offset} runs past its container (${end} > ${limit})`);
  return { buf, cls, constructed, tagNumber, start: offset, valueStart: p, valueEnd: end, end };
}

/** Parses a whole buffer as exactly one element. */
export function readRoot(buf: Buffer): Tlv {
  const t = readTlv(buf, 0, buf.length);
  if (t.end !== buf.length) throw new DerError(`${buf.length - t.end} trailing bytes`);
  return t;
}

export function children(t: Tlv): Tlv[] {
  if (!t.constructed) throw new DerError(`expected a constructed element at ${t.start}`);
  const out: Tlv[] = [];
  let p = t.valueStart;
  while (p < t.valueEnd) {
    const c = readTlv(t.buf, p, t.valueEnd);
    out.push(c);
    p = c.end;
  }
  return out;
}

export function raw(t: Tlv): Buffer {
  return t.buf.subarray(t.start, t.end);
}

export function content(t: Tlv): Buffer {
  return t.buf.subarray(t.valueStart, t.valueEnd);
}

export function isUniversal(t: Tlv, tagNumber: number): boolean {
  return t.cls === 0 && t.tagNumber === tagNumber;
}

export function isContext(t: Tlv, tagNumber: number): boolean {
  return t.cls === 2 && t.tagNumber === tagNumber;
}

export function expect(t: Tlv | undefined, tagNumber: number, what: string): Tlv {
  if (!t || !isUniversal(t, tagNumber)) throw new DerError(`${what}: unexpected element`);
  return t;
}

export function oid(t: Tlv): string {
  expect(t, TAG.OID, 'OBJECT IDENTIFIER');
  const b = content(t);
  if (b.length === 0) throw new DerError('empty OID');
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if ((b[i] & 0x80) === 0) {
      if (parts.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2;
        parts.push(first, v - first * 40);
      } else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** OCTET STRING value, concatenating the chunks of a constructed (BER) one. */
export function octets(t: Tlv): Buffer {
  if (!isUniversal(t, TAG.OCTET_STRING)) throw new DerError('expected OCTET STRING');
  if (!t.constructed) return content(t);
  return Buffer.concat(children(t).map(octets));
}

export function bitStringBytes(t: Tlv): Buffer {
  expect(t, TAG.BIT_STRING, 'BIT STRING');
  const c = content(t);
  if (c.length < 1) throw new DerError('empty BIT STRING');
  return c.subarray(1);
}

export function integerHex(t: Tlv): string {
  expect(t, TAG.INTEGER, 'INTEGER');
  return normalizeSerial(content(t).toString('hex'));
}

/** Serial numbers are compared as lower-case hex without leading zero octets. */
export function normalizeSerial(hex: string): string {
  const h = hex.toLowerCase().replace(/^(00)+(?=..)/, '');
  return h.length % 2 ? `0${h}` : h;
}

export function time(t: Tlv): Date {
  const s = content(t).toString('latin1');
  let m: RegExpMatchArray | null;
  if (isUniversal(t, TAG.UTC_TIME)) {
    m = s.match(/^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?Z$/);
    if (!m) throw new DerError(`bad UTCTime ${s}`);
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy >= 50 ? 1900 + yy : 2000 + yy, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)));
  }
  if (isUniversal(t, TAG.GENERALIZED_TIME)) {
    m = s.match(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:[.,](\d+))?Z$/);
    if (!m) throw new DerError(`bad GeneralizedTime ${s}`);
    const ms = m[7] ? Math.round(Number(`0.${m[7]}`) * 1000) : 0;
    return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms));
  }
  throw new DerError('expected a time');
}

export function string(t: Tlv): string {
  const c = content(t);
  if (t.cls !== 0) return c.toString('utf8');
  switch (t.tagNumber) {
    case TAG.BMP_STRING: {
      if (c.length % 2) throw new DerError('odd BMPString length');
      const swapped = Buffer.from(c);
      swapped.swap16();
      return swapped.toString('utf16le');
    }
    case TAG.T61_STRING:
      return c.toString('latin1');
    default:
      return c.toString('utf8');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A minimal DER writer for the signing hot path: it splices already-encoded parts (certificates, names) without
// re-parsing them, which asn1js cannot do.

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** An element with identifier octet `tag` around the concatenated parts. */
export function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

export const enc = {
  seq: (...parts: Buffer[]) => tlv(0x30, ...parts),
  /** SET OF in DER order (elements sorted by their encoding). */
  setOf: (...parts: Buffer[]) => tlv(0x31, ...[...parts].sort(Buffer.compare)),
  explicit: (n: number, ...parts: Buffer[]) => tlv(0xa0 | n, ...parts),
  implicitConstructed: (n: number, ...parts: Buffer[]) => tlv(0xa0 | n, ...parts),
  octetString: (b: Buffer) => tlv(0x04, b),
  null: () => Buffer.from([0x05, 0x00]),
  integer(value: Buffer | number): Buffer {
    let b = typeof value === 'number' ? Buffer.from([value]) : value;
    while (b.length > 1 && b[0] === 0 && !(b[1] & 0x80)) b = b.subarray(1);
    if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return tlv(0x02, b);
  },
  oid(dotted: string): Buffer {
    const n = dotted.split('.').map(Number);
    const out: number[] = [];
    const push = (v: number) => {
      const stack = [v & 0x7f];
      for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) stack.unshift((v & 0x7f) | 0x80);
      out.push(...stack);
    };
    push(n[0] * 40 + n[1]);
    for (const v of n.slice(2)) push(v);
    return tlv(0x06, Buffer.from(out));
  },
  utcTime(d: Date): Buffer {
    const p = (v: number) => String(v).padStart(2, '0');
    const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
    return tlv(0x17, Buffer.from(s, 'latin1'));
  },
};
