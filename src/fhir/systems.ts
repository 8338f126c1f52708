// The identifier and code systems of the gematik E-Rezept workflow, in one place for the Fachdienst, the practice,
// the KBV bundle rules and the apps (no Node imports: the browser build uses it too).
export const ERP_SYSTEM = {
  prescriptionId: 'https://gematik.de/fhir/erp/NamingSystem/GEM_ERP_NS_PrescriptionId',
  accessCode: 'https://gematik.de/fhir/erp/NamingSystem/GEM_ERP_NS_AccessCode',
  secret: 'https://gematik.de/fhir/erp/NamingSystem/GEM_ERP_NS_Secret',
  kvnr: 'http://fhir.de/sid/gkv/kvid-10',
  telematikId: 'https://gematik.de/fhir/sid/telematik-id',
  flowType: 'https://gematik.de/fhir/erp/CodeSystem/GEM_ERP_CS_FlowType',
  documentType: 'https://gematik.de/fhir/erp/CodeSystem/GEM_ERP_CS_DocumentType',
  organizationType: 'https://gematik.de/fhir/erp/CodeSystem/GEM_ERP_CS_OrganizationType',
} as const;
