// GET /metadata: the CapabilityStatement (formats xml+json, Task operations, search parameters per resource,
// PKV billing: ChargeItem, Consent and the ChargChange Communications).
import type { FastifyInstance } from 'fastify';
import type { CapabilityStatement } from '../../fhir/types.ts';
import type { FachdienstContext } from '../context.ts';
import { PROFILE } from '../task-resource.ts';
import { CHRG_PROFILE } from '../../insured/billing.ts';

const OPERATION_DEF = (name: string) => ({ name, definition: `https://gematik.de/fhir/erp/OperationDefinition/${name.charAt(0).toUpperCase()}${name.slice(1)}OperationDefinition` });

export function capabilityStatement(ctx: FachdienstContext): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    name: 'Gem_erxCapabilityStatement',
    title: 'E-Rezept Workflow CapabilityStatement',
    status: 'draft',
    date: '2026-10-01T00:00:00+00:00',
    kind: 'instance',
    software: { name: 'E-Rezept Fachdienst', version: ctx.version, releaseDate: '2026-10-01T00:00:00+00:00' },
    implementation: { description: 'E-Rezept Fachdienst Server', url: ctx.baseUrl },
    fhirVersion: '4.0.1',
    format: ['xml', 'json'],
    rest: [{
      mode: 'server',
      resource: [
        {
          type: 'Task',
          profile: PROFILE('GEM_ERP_PR_Task'),
          interaction: [{ code: 'read' }, { code: 'search-type' }],
          searchParam: [
            { name: 'status', type: 'token' }, { name: 'authored-on', type: 'date' }, { name: 'modified', type: 'date' },
            { name: '_sort', type: 'string' }, { name: '_count', type: 'number' },
            // the pharmacy's list with the eGK (VSDM proof of presence)
            { name: 'kvnr', type: 'string' }, { name: 'hcv', type: 'string' }, { name: 'pnw', type: 'string' },
          ],
          operation: ['create', 'activate', 'accept', 'reject', 'dispense', 'close', 'abort'].map(OPERATION_DEF),
        },
        {
          type: 'Communication',
          profile: 'http://hl7.org/fhir/StructureDefinition/Communication',
          supportedProfile: [
            ...['DispReq', 'Reply', 'Representative', 'DiGA'].map((p) => PROFILE(`GEM_ERP_PR_Communication_${p}`)),
            ...['ChargChangeReq', 'ChargChangeReply'].map((p) => CHRG_PROFILE(`GEM_ERPCHRG_PR_Communication_${p}`)),
          ],
          interaction: [{ code: 'create' }, { code: 'read' }, { code: 'delete' }, { code: 'search-type' }],
          searchParam: [
            { name: 'sent', type: 'date' }, { name: 'received', type: 'date' }, { name: 'sender', type: 'string' },
            { name: 'recipient', type: 'string' },
          ],
        },
        {
          type: 'MedicationDispense',
          profile: PROFILE('GEM_ERP_PR_MedicationDispense'),
          interaction: [{ code: 'search-type' }],
          searchParam: [
            { name: 'identifier', type: 'token' }, { name: 'whenhandedover', type: 'date' }, { name: 'whenprepared', type: 'date' },
            { name: 'performer', type: 'reference' },
          ],
        },
        {
          type: 'AuditEvent',
          profile: PROFILE('GEM_ERP_PR_AuditEvent'),
          interaction: [{ code: 'read' }, { code: 'search-type' }],
          searchParam: [{ name: 'date', type: 'date' }, { name: 'subtype', type: 'token' }, { name: '_sort', type: 'string' }],
        },
        { type: 'Device', profile: PROFILE('GEM_ERP_PR_Device'), interaction: [{ code: 'read' }] },
        {
          type: 'ChargeItem',
          profile: CHRG_PROFILE('GEM_ERPCHRG_PR_ChargeItem'),
          interaction: [{ code: 'create' }, { code: 'read' }, { code: 'update' }, { code: 'patch' }, { code: 'delete' }, { code: 'search-type' }],
          searchParam: [{ name: 'entered-date', type: 'date' }, { name: '_lastUpdated', type: 'date' }],
        },
        {
          type: 'Consent',
          profile: CHRG_PROFILE('GEM_ERPCHRG_PR_Consent'),
          interaction: [{ code: 'create' }, { code: 'delete' }, { code: 'search-type' }],
        },
      ],
    }],
  } as CapabilityStatement;
}

export function registerMetadata(app: FastifyInstance, ctx: FachdienstContext): void {
  app.get('/metadata', async (_request, reply) => reply.fhir(capabilityStatement(ctx)));
}
