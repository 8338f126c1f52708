// VSDService ReadVSD of the simulated Konnektor: reads the insurance data (VSD) of an eGK and runs the VSDM online
// check, whose proof (Prüfungsnachweis with Prüfziffer) lets a pharmacy list the insured's E-Rezepte at the
// Fachdienst without a 2D code (GET /Task?kvnr&hcv&pnw). The VSD come from the seed identities, deterministically.
import {
  encodePruefungsnachweis, hcvToParam, makeHcv, makePruefzifferV1, makePruefzifferV2, vsdmKeyOf,
} from '../crypto/vsdm.ts';
import type { Identity } from '../seed/identities.ts';
import { identityById } from '../seed/identities.ts';
import type { CardStore, SmartCard } from './cards.ts';
import { KonnektorError } from './errors.ts';
import { checkContext } from './signature.ts';

/** The parts of UC_PersoenlicheVersichertendatenXML / UC_AllgemeineVersicherungsdatenXML the simulation fills. */
export interface VersichertenStammdaten {
  Versicherten_ID: string;
  Vorname?: string;
  Nachname?: string;
  /** yyyyMMdd */
  Geburtsdatum?: string;
  StrassenAdresse?: { Strasse: string; Hausnummer?: string; Postleitzahl: string; Ort: string; Land: 'D' };
  Versicherungsschutz: {
    /** Versicherungsbeginn, yyyyMMdd: the hcv input. */
    Beginn: string;
    Kostentraeger: { Kostentraegerkennung: string; Name: string };
  };
}

/**
 * VSD of a seeded insured. The insurance began on the birthday in 2010 (the first eGK generation), or at birth
 * for those born later; street and house number split off the seed address line.
 */
export function vsdOf(identity: Identity): VersichertenStammdaten {
  if (!identity.kvnr || !identity.coverage) throw new Error(`${identity.id} has no insurance data`);
  const birth = identity.birthDate ?? '2010-01-01';
  const start = birth >= '2010-01-01' ? birth : `2010${birth.slice(4)}`;
  const vsd: VersichertenStammdaten = {
    Versicherten_ID: identity.kvnr,
    ...(identity.given ? { Vorname: identity.given } : {}),
    ...(identity.family ? { Nachname: identity.family } : {}),
    ...(identity.birthDate ? { Geburtsdatum: identity.birthDate.replace(/-/g, '') } : {}),
    Versicherungsschutz: {
      Beginn: start.replace(/-/g, ''),
      Kostentraeger: { Kostentraegerkennung: identity.coverage.ik, Name: identity.coverage.payer },
    },
  };
  if (identity.address) {
    const m = /^(.*?)\s+(\d+\s*[a-zA-Z]?(?:\s*[-\/]\s*\d+\s*[a-zA-Z]?)?)$/.exec(identity.address.line.trim());
    vsd.StrassenAdresse = {
      Strasse: m ? m[1] : identity.address.line.trim(),
      ...(m ? { Hausnummer: m[2] } : {}),
      Postleitzahl: identity.address.postalCode,
      Ort: identity.address.city,
      Land: 'D',
    };
  }
  return vsd;
}

/** hcv of a VSD record (A_27352): Versicherungsbeginn + Straße. */
export function hcvOf(vsd: VersichertenStammdaten): Buffer {
  return makeHcv(vsd.Versicherungsschutz.Beginn, vsd.StrassenAdresse?.Strasse);
}

export interface ReadVsdRequest {
  Context?: unknown;
  /** The eGK (EventService GetCards CardType EGK). */
  EhcHandle?: unknown;
  /** The pharmacy's SMC-B, in whose name the online check runs. */
  HpcHandle?: unknown;
  PerformOnlineCheck?: unknown;
  ReadOnlineReceipt?: unknown;
  /** Simulation only: Prüfziffer version 1 (HMAC) or 2 (VSDM++, AES-GCM with hcv, default). */
  PruefzifferVersion?: unknown;
}

export interface ReadVsdOptions {
  cards: CardStore;
  /** Shared with the Fachdienst; without it the online check "fails" and the proof has result 3 (no Prüfziffer). */
  vsdmKey?: Buffer;
  now: () => Date;
}

function cardOf(cards: CardStore, handle: unknown, what: string): SmartCard {
  if (typeof handle !== 'string' || handle === '') throw new KonnektorError(400, 'INVALID_REQUEST', `${what} fehlt`);
  const card = cards.getCard(handle);
  if (!card) throw new KonnektorError(404, 'CARD_NOT_FOUND', `Keine Karte mit dem Handle ${handle}`);
  return card;
}

export function createReadVsd(options: ReadVsdOptions) {
  return function readVsd(body: ReadVsdRequest) {
    checkContext(body.Context);
    const egk = cardOf(options.cards, body.EhcHandle, 'EhcHandle');
    if (egk.type !== 'EGK') throw new KonnektorError(400, 'CARD_TYPE', `EhcHandle ${egk.handle} ist keine eGK (${egk.type})`);
    const smcb = cardOf(options.cards, body.HpcHandle, 'HpcHandle');
    if (smcb.type !== 'SMC-B' || smcb.role !== 'pharmacy') {
      throw new KonnektorError(400, 'CARD_TYPE', `HpcHandle ${smcb.handle} ist keine SMC-B einer Apotheke`);
    }
    const version = body.PruefzifferVersion ?? 2;
    if (version !== 1 && version !== 2) throw new KonnektorError(400, 'INVALID_REQUEST', 'PruefzifferVersion muss 1 oder 2 sein');
    const identity = identityById(egk.identityId);
    if (!identity) throw new KonnektorError(500, 'CARD_STATE', `Keine Versichertendaten für ${egk.handle}`);
    const vsd = vsdOf(identity);
    const hcv = hcvOf(vsd);
    const now = options.now();
    const online = body.PerformOnlineCheck !== false;
    let pnw: string | undefined;
    if (online && body.ReadOnlineReceipt !== false) {
      // Without the VSDM key the simulated VSDM service is "unreachable": result 3, error code 3 (gemSpec_FM_VSDM).
      if (!options.vsdmKey) pnw = encodePruefungsnachweis({ timestamp: now, result: '3', errorCode: '3' });
      else {
        const key = vsdmKeyOf(options.vsdmKey);
        const pz = version === 1
          ? makePruefzifferV1(key, { kvnr: vsd.Versicherten_ID, issuedAt: now, updated: false })
          : makePruefzifferV2(key, { kvnr: vsd.Versicherten_ID, issuedAt: now, hcv });
        pnw = encodePruefungsnachweis({ timestamp: now, result: '2', pz });
      }
    }
    return {
      Status: { Result: 'OK' },
      VSD_Status: { Status: '0', Timestamp: now.toISOString(), Version: '5.2.0' },
      Versichertendaten: vsd,
      ...(pnw ? { Pruefungsnachweis: pnw } : {}),
      // What the AVS computes from the VSD (A_27352) and sends as `hcv`; handed out for convenience.
      Hcv: hcvToParam(hcv),
    };
  };
}
