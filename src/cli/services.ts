// Every service `erx start` runs, in start order (trust and directories first, then the Fachdienst, then its clients).
import type { ServiceDefinition } from './service.ts';

export const services: ServiceDefinition[] = [];

export function serviceByName(name: string): ServiceDefinition | undefined {
  return services.find((s) => s.name === name);
}
