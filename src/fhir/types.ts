// FHIR R4 resource types (from @medplum/fhirtypes, types only) and the few helpers every module needs.
export type {
  AuditEvent, Binary, Bundle, BundleEntry, CapabilityStatement, ChargeItem, Communication, Composition, Consent, Coverage,
  Device, DeviceRequest, Endpoint, Extension, HealthcareService, Identifier, Location, Medication, MedicationDispense,
  MedicationRequest,
  OperationOutcome, OperationOutcomeIssue, Organization, Parameters, ParametersParameter, Patient, Practitioner,
  PractitionerRole, Provenance, Reference, Resource, Signature, Task, Coding, CodeableConcept,
} from '@medplum/fhirtypes';
