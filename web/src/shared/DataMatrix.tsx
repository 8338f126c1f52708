// The DataMatrix code of up to 3 prescriptions, drawn with bwip-js on a canvas (white background, see ecosystem §4).
import { useEffect, useRef, useState } from 'react';
import { toCanvas } from 'bwip-js/browser';
import { dataMatrixOptions, dataMatrixPayload, type ErezeptToken } from '../../../src/insured/datamatrix-payload.ts';

export function DataMatrix({ tokens, label }: { tokens: ErezeptToken[]; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (!canvas.current) return;
    try {
      toCanvas(canvas.current, dataMatrixOptions(dataMatrixPayload(tokens), 5) as never);
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    }
  }, [tokens]);
  return (
    <figure className="datamatrix">
      <canvas ref={canvas} role="img" aria-label={label} data-testid="datamatrix" />
      {error && <figcaption role="alert">{error}</figcaption>}
    </figure>
  );
}
