// The VZD pharmacy search form (name, postal code, city) used by the insured app and the practice's signing UI.
import { useState } from 'react';
import { errorText, type Api } from './api.ts';
import { searchPharmacies, type PharmacyHit } from './pharmacy-search.ts';
import { Field } from './ui.tsx';

export function PharmacySearchForm({ api, label, onResults, onError }: {
  api: Api;
  /** Accessible name of the search landmark. */
  label: string;
  onResults: (hits: PharmacyHit[]) => void;
  onError: (text: string | undefined) => void;
}) {
  const [name, setName] = useState('');
  const [postalCode, setPostalCode] = useState('');
  const [city, setCity] = useState('');
  const search = async (event: React.FormEvent) => {
    event.preventDefault();
    onError(undefined);
    try {
      onResults(await searchPharmacies(api, { name, postalCode, city }));
    } catch (e) {
      onError(errorText(e));
    }
  };
  return (
    <form onSubmit={search} role="search" aria-label={label}>
      <div className="row">
        <Field label="Name der Apotheke" value={name} onChange={setName} />
        <Field label="Postleitzahl" value={postalCode} onChange={setPostalCode} />
        <Field label="Ort" value={city} onChange={setCity} />
        <div className="field"><button type="submit">Apotheke suchen</button></div>
      </div>
    </form>
  );
}
