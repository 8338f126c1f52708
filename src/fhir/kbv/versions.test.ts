import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configWindowAt, FHIR_CONFIG_WINDOWS, isErpVersionAccepted, isVersionAccepted, majorMinor, versionAtLeast } from './versions.ts';

describe('accepted KBV versions (erp-api §2.6)', () => {
  it('1.1.0 until 2026-03-31, no longer from 2026-04-01 (German midnight)', () => {
    assert.equal(isErpVersionAccepted('1.1.0', new Date('2025-08-01T12:00:00Z')), true);
    assert.equal(isErpVersionAccepted('1.1.0', new Date('2026-03-31T21:59:00Z')), true);
    assert.equal(isErpVersionAccepted('1.1.0', new Date('2026-03-31T22:00:00Z')), false);
    assert.equal(isErpVersionAccepted('1.1.0', new Date('2026-11-23T10:00:00Z')), false);
  });
  it('1.3 and 1.4 today (2026-11-23); only 1.4 from 2027-01-15; 1.3 not before 2025-10-01', () => {
    const today = new Date('2026-11-23T10:00:00Z');
    assert.equal(isErpVersionAccepted('1.3', today), true);
    assert.equal(isErpVersionAccepted('1.4', today), true);
    assert.equal(isErpVersionAccepted('1.3', new Date('2027-01-15T10:00:00Z')), false);
    assert.equal(isErpVersionAccepted('1.4', new Date('2027-01-15T10:00:00Z')), true);
    assert.equal(isErpVersionAccepted('1.3', new Date('2025-09-30T10:00:00Z')), false);
    assert.equal(isErpVersionAccepted('1.0.1', today), false);
    assert.equal(isErpVersionAccepted(undefined, today), false);
  });
  it('eVDGA (DiGA) bundle: 1.1 until 2026-03-31, 1.2 from 2025-10-01; its own column, not the ERP one', () => {
    assert.equal(isVersionAccepted('evdga', '1.1', new Date('2025-01-15T12:00:00Z')), true);
    assert.equal(isVersionAccepted('evdga', '1.1', new Date('2026-03-31T21:59:00Z')), true);
    assert.equal(isVersionAccepted('evdga', '1.1', new Date('2026-03-31T22:00:00Z')), false);
    assert.equal(isVersionAccepted('evdga', '1.2', new Date('2025-09-30T10:00:00Z')), false);
    assert.equal(isVersionAccepted('evdga', '1.2', new Date('2026-11-23T10:00:00Z')), true);
    assert.equal(isVersionAccepted('erp', '1.2', new Date('2026-11-23T10:00:00Z')), false);
    assert.equal(isVersionAccepted('evdga', '1.3', new Date('2026-11-23T10:00:00Z')), false);
  });
  it('the table has no gaps or overlaps from its first day on', () => {
    for (let i = 1; i < FHIR_CONFIG_WINDOWS.length; i++) {
      const prev = FHIR_CONFIG_WINDOWS[i - 1];
      const next = new Date(`${prev.to}T12:00:00Z`);
      next.setUTCDate(next.getUTCDate() + 1);
      assert.equal(FHIR_CONFIG_WINDOWS[i].from, next.toISOString().slice(0, 10), FHIR_CONFIG_WINDOWS[i].name);
    }
    assert.equal(configWindowAt(new Date('2026-11-23T10:00:00Z'))?.name, 'erp_2026_04');
    assert.equal(configWindowAt(new Date('2020-01-01T10:00:00Z')), undefined);
  });
  it('version helpers', () => {
    assert.equal(majorMinor('1.1.0'), '1.1');
    assert.equal(majorMinor('1.3'), '1.3');
    assert.equal(majorMinor('x'), undefined);
    assert.equal(versionAtLeast('1.4', '1.4'), true);
    assert.equal(versionAtLeast('1.3', '1.4'), false);
    assert.equal(versionAtLeast('2.0', '1.4'), true);
  });
});
