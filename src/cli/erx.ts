// The `erx` command: `erx start` runs every service in one process, `erx serve <name>` runs one.
import cluster from 'node:cluster';
import { mkdirSync } from 'node:fs';
import { ConfigError, HTTP_SERVICES, loadConfig, type Config, type HttpService, type PortName } from '../config.ts';
import { pkiCommand } from '../crypto/cli.ts';
import { createSharedResources } from './resources.ts';
import { demoBundleXml, demoSeeded, seedDemoData, signedAtStart, type DemoResult } from '../seed/demo.ts';
import { insured } from '../seed/identities.ts';
import type { Logger, RunningService, ServiceContext, ServiceDefinition } from './service.ts';
import { serviceByName, services } from './services.ts';
import { startFachdienstCluster } from '../fachdienst/cluster.ts';

const USAGE = `Usage: erx <command>

  erx start                 start every service in this process (embedded PGlite unless DATABASE_URL is set)
  erx serve <service>       start one service (${'<names>'})
  erx services              list the services
  erx example-bundle [kvnr]  print a KBV prescription bundle (XML) for RED $createerptask, for a seeded insured
  erx pki list|revoke|revoked  the test PKI: list cards, revoke a card (e.g. erx pki revoke physician-berger)
  erx help                  this text

Configuration comes from the environment (see README): ERX_<SERVICE>_PORT, ERX_DATA_DIR, DATABASE_URL, ERX_DEV, …`;

function consoleLogger(level: Config['logLevel']): Logger {
  const quiet = level === 'silent' || level === 'fatal' || level === 'error';
  const write = (stream: NodeJS.WriteStream, lvl: string) => (obj: object | string, msg?: string) => {
    const line = typeof obj === 'string' ? { msg: obj } : { ...obj, msg };
    stream.write(JSON.stringify({ time: new Date().toISOString(), level: lvl, ...line }) + '\n');
  };
  return {
    info: quiet || level === 'warn' ? () => {} : write(process.stdout, 'info'),
    warn: quiet ? () => {} : write(process.stderr, 'warn'),
    error: level === 'silent' ? () => {} : write(process.stderr, 'error'),
  };
}

/** Starts the given services in order; on a failure stops those already running and rethrows. */
export async function startServices(config: Config, definitions: ServiceDefinition[], log: Logger): Promise<{ running: RunningService[]; stop(): Promise<void> }> {
  mkdirSync(config.dataDir, { recursive: true });
  const resources = createSharedResources();
  const context: ServiceContext = { config, resources, log };
  const running: RunningService[] = [];
  const stop = async () => {
    for (const service of [...running].reverse()) await service.stop().catch((err) => log.error({ err: String(err) }, `stopping ${service.name} failed`));
    running.length = 0;
    await resources.closeAll();
  };
  try {
    for (const definition of definitions) {
      const service = await definition.start(context);
      running.push(service);
      adoptActualPorts(config, service);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { running, stop };
}

/**
 * A service asked for port 0 got a free port; record it in the shared config so the services started after it
 * (and tests) reach it. Services start in dependency order, so each reads the URLs it needs at its own start.
 */
export function adoptActualPorts(config: Config, service: RunningService): void {
  for (const raw of service.urls) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      continue;
    }
    const port = Number(url.port);
    if (!port) continue;
    if (url.protocol === 'http:' || url.protocol === 'https:') {
      const name = service.name as HttpService;
      if (HTTP_SERVICES.includes(name) && config.ports[name] === 0) {
        config.ports[name] = port;
        config.urls[name] = `${url.protocol}//${url.hostname}:${port}`;
      }
    } else {
      const portName = ({ 'smtp:': 'kim_smtp', 'pop3:': 'kim_pop3', 'ldap:': 'vzd_ldap' } as Record<string, PortName>)[url.protocol];
      if (portName && config.ports[portName] === 0) config.ports[portName] = port;
    }
  }
}

function printBanner(config: Config, running: RunningService[], demo?: DemoResult): void {
  const lines = ['', 'E-Rezept platform is running:'];
  for (const s of running) lines.push(`  ${s.name.padEnd(11)} ${s.urls.join('  ')}`);
  const web = running.find((s) => s.name === 'web');
  if (web) {
    const base = web.urls[0];
    lines.push('', `  apps        ${base}/insured/  ${base}/pharmacy/  ${base}/practice/`);
  }
  if (demo) {
    lines.push(`  demo data   ${demo.signed} signed prescriptions (Lisa Müller X110614233 and family, one assigned by KIM to a pharmacy),`);
    lines.push(`              ${demo.pending} requests waiting for the physician's signature at /practice (ERX_DEMO=0: none)`);
  }
  lines.push('');
  lines.push(`  storage     ${config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${config.dataDir}/pglite`}`);
  if (config.dev) {
    lines.push(`  dev mode    ON: test identities at ${config.urls.idp}/dev/identities, tokens via POST ${config.urls.idp}/dev/token`);
    lines.push('              the simulated card terminal enters PINs itself' + (config.pinPrompt ? ' (except: ERX_PIN_PROMPT=1, confirm in the UI)' : ''));
    lines.push('              turn off with ERX_DEV=0 (never run dev mode in production)');
  } else {
    lines.push('  dev mode    off');
  }
  lines.push('');
  process.stdout.write(lines.join('\n') + '\n');
}

export async function main(argv: string[]): Promise<number> {
  const [command, arg] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE.replace('<names>', services.map((s) => s.name).join(', ')) + '\n');
    return command ? 0 : 1;
  }
  if (command === 'services') {
    for (const s of services) process.stdout.write(`${s.name.padEnd(11)} ${s.description}\n`);
    return 0;
  }
  if (command === 'example-bundle') {
    const patient = insured.find((i) => i.kvnr === (arg ?? 'X110614233'));
    if (!patient) {
      process.stderr.write(`erx: no seeded insured with KVNR ${arg}; one of: ${insured.map((i) => i.kvnr).join(', ')}\n`);
      return 2;
    }
    process.stdout.write(demoBundleXml({ ...signedAtStart[0], patient }) + '\n');
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`erx: configuration error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (command === 'pki') return pkiCommand(argv.slice(1), { dataDir: config.dataDir });
  let definitions: ServiceDefinition[];
  if (command === 'start') {
    definitions = services;
  } else if (command === 'serve') {
    const definition = arg ? serviceByName(arg) : undefined;
    if (!definition) {
      process.stderr.write(`erx: unknown service ${arg ?? '(none)'}; one of: ${services.map((s) => s.name).join(', ')}\n`);
      return 2;
    }
    definitions = [definition];
  } else {
    process.stderr.write(`erx: unknown command ${command}\n${USAGE.replace('<names>', services.map((s) => s.name).join(', '))}\n`);
    return 2;
  }
  const log = consoleLogger(config.logLevel);
  // `erx serve fachdienst` with ERX_FACHDIENST_WORKERS > 1: this process supervises, the workers serve.
  const clustered = command === 'serve' && arg === 'fachdienst' && config.fachdienstWorkers > 1 && cluster.isPrimary;
  let platform: { running: RunningService[]; stop(): Promise<void> };
  try {
    if (clustered) {
      const fd = await startFachdienstCluster(config, log);
      platform = { running: [{ name: `fachdienst (${config.fachdienstWorkers} workers)`, urls: fd.urls, stop: fd.stop }], stop: fd.stop };
    } else {
      platform = await startServices(config, definitions, log);
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`erx: configuration error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  let demo: DemoResult | undefined;
  if (command === 'start' && config.demo && platform.running.some((s) => s.name === 'practice')) {
    try {
      demo = (await seedDemoData({ practiceUrl: config.urls.practice, dataDir: config.dataDir })) ?? demoSeeded(config.dataDir);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'demo data could not be created');
    }
  }
  if (!cluster.isWorker) printBanner(config, platform.running, demo);
  await new Promise<void>((resolve) => {
    const shutdown = () => resolve();
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });
  await platform.stop();
  return 0;
}
