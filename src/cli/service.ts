// What every runnable service looks like to the `erx` command: a name and a start function taking the shared context.
import type { Config } from '../config.ts';

export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export interface ServiceContext {
  config: Config;
  /** Shared per process and opened on first use (see ./context.ts). */
  resources: SharedResources;
  log: Logger;
}

/** Process-wide resources, created lazily so `erx serve x` opens only what x needs. */
export interface SharedResources {
  get<T>(key: string, create: () => Promise<T>): Promise<T>;
  closeAll(): Promise<void>;
}

export interface RunningService {
  name: string;
  /** Where clients reach it, printed at start (e.g. `http://localhost:8080`, `smtp://localhost:2525`). */
  urls: string[];
  stop(): Promise<void>;
}

export interface ServiceDefinition {
  name: string;
  description: string;
  start(context: ServiceContext): Promise<RunningService>;
}
