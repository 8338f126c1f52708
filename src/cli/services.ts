// Every service `erx start` runs, in start order: trust and directories first (others read their URLs at start),
// then the Fachdienst, then its clients (the practice before web, whose /api/practice forwards to it).
import type { ServiceDefinition } from './service.ts';
import { idpService } from '../idp/service.ts';
import { konnektorService } from '../konnektor/service.ts';
import { vzdService } from '../vzd/service.ts';
import { kimServiceDefinition } from '../kim/service.ts';
import { fachdienstService } from '../fachdienst/service.ts';
import { practiceService } from '../practice/service.ts';
import { webService } from '../web/service.ts';

export const services: ServiceDefinition[] = [idpService, konnektorService, vzdService, kimServiceDefinition, fachdienstService, practiceService, webService];

export function serviceByName(name: string): ServiceDefinition | undefined {
  return services.find((s) => s.name === name);
}
