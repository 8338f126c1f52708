// `erx serve konnektor`: the simulated Konnektor (cards, PIN, signatures, comfort signature, OCSP) on its port.
import type { ServiceDefinition } from '../cli/service.ts';
import { getDatabase, getPki } from '../cli/shared.ts';
import { deriveDevVsdmSecret } from '../crypto/vsdm.ts';
import { createKonnektorApp } from './app.ts';
import { openCardStore } from './cards.ts';

export const konnektorService: ServiceDefinition = {
  name: 'konnektor',
  description: 'simulated Konnektor: soft smart cards, PIN, QES batch and comfort signature, OCSP',
  async start(ctx) {
    const { config } = ctx;
    const [database, pki] = await Promise.all([getDatabase(ctx), getPki(ctx)]);
    const cards = await openCardStore(database, pki);
    // ERX_PIN_PROMPT is about the physician's HBA PIN; the practice's SMC-B is unlocked by the terminal in dev mode.
    const vsdmKey = config.vsdmKey ?? (config.dev ? deriveDevVsdmSecret(pki.cas.egk.key) : undefined);
    const app = createKonnektorApp({ cards, pki, autoPin: config.dev && !config.pinPrompt, autoSmcbPin: config.dev, vsdmKey });
    const address = await app.listen({ host: config.host, port: config.ports.konnektor });
    const port = new URL(address).port;
    ctx.log.info({ cards: cards.cards().length, autoPin: config.dev && !config.pinPrompt }, 'konnektor ready');
    return {
      name: 'konnektor',
      urls: [config.ports.konnektor === 0 ? `http://localhost:${port}` : config.urls.konnektor],
      stop: () => app.close(),
    };
  },
};
