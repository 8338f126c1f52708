// Sends what the activation step queued: the KIM assignment (eRezept;Zuweisung;V1.0) to the pharmacy for flowtype
// 169/209 and webhook calls. Rows stay in practice_outbox until delivered, so nothing is lost while KIM, the VZD or
// the webhook receiver is down; retries back off exponentially. Each KIM message carries a Message-ID fixed per
// outbox row, so a resend after a crash between SMTP accept and the commit is recognisable as the same message.
import { buildZuweisung } from '../kim/erezept-messages.ts';
import type { KimSendResult, KimSmtpTarget } from '../kim/service.ts';
import type { OutboxMessage, PracticeStore } from './store.ts';

export interface OutboxDeps {
  store: PracticeStore;
  /** KIM address of a Telematik-ID (VZD lookup); undefined when the directory has none. */
  lookupKimAddress(telematikId: string): Promise<string | undefined>;
  /** The practice's KIM account (address + SMTP target) for a tenant. */
  kimAccount(tenant: string): { from: string; target: KimSmtpTarget } | undefined;
  sendKimMail(target: KimSmtpTarget, mail: { from: string; to: string; raw: Buffer }): Promise<KimSendResult>;
  fetch?: typeof fetch;
  /** Delay before attempt n+1 (ms); default 1 s doubling up to 5 min. */
  backoff?: (attempts: number) => number;
  onError?: (message: OutboxMessage, error: unknown) => void;
}

const defaultBackoff = (attempts: number) => Math.min(300_000, 1000 * 2 ** Math.min(attempts, 12));

/** One pass over the due messages. Returns how many were delivered. */
export async function deliverOutbox(deps: OutboxDeps, limit = 50): Promise<number> {
  const due = await deps.store.takeDueOutbox(limit, 60_000);
  let delivered = 0;
  for (const message of due) {
    try {
      if (message.kind === 'kim') await sendAssignment(deps, message);
      else await callWebhook(deps, message);
      await deps.store.outboxDelivered(message);
      delivered++;
    } catch (err) {
      deps.onError?.(message, err);
      const wait = (deps.backoff ?? defaultBackoff)(message.attempts);
      await deps.store.outboxFailed(message, err instanceof Error ? err.message : String(err), new Date(Date.now() + wait));
    }
  }
  return delivered;
}

async function sendAssignment(deps: OutboxDeps, message: OutboxMessage): Promise<void> {
  const { prescriptionId, accessCode, pharmacy } = message.payload as { prescriptionId: string; accessCode: string; pharmacy: string };
  const account = deps.kimAccount(message.tenant);
  if (!account) throw new Error(`Praxis ${message.tenant} hat kein KIM-Konto`);
  const to = await deps.lookupKimAddress(pharmacy);
  if (!to) throw new Error(`Keine KIM-Adresse für ${pharmacy} im Verzeichnisdienst`);
  const mail = await buildZuweisung({
    from: account.from, to, taskId: prescriptionId, accessCode, messageId: `<${message.id}@localhost>`, senderSystem: 'erx-practice;1.0',
  });
  await deps.sendKimMail(account.target, { from: account.from, to, raw: mail.raw });
}

async function callWebhook(deps: OutboxDeps, message: OutboxMessage): Promise<void> {
  const { url, ...event } = message.payload as { url: string };
  const res = await (deps.fetch ?? fetch)(url, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: message.tenant, ...event }),
  });
  if (!res.ok) throw new Error(`Webhook ${url} antwortete ${res.status}`);
}

/** Runs deliverOutbox every `intervalMs` until stopped; `kick()` runs a pass right away (after an activation). */
export function startOutboxSender(deps: OutboxDeps, intervalMs = 1000): { kick(): void; stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  let again = false;
  const pass = () => {
    if (stopped) return;
    again = true;
    running = running.then(async () => {
      while (again && !stopped) {
        again = false;
        await deliverOutbox(deps).catch((err) => deps.onError?.(undefined as never, err));
      }
    });
  };
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  return {
    kick: pass,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
