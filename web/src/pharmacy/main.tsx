import { createRoot } from 'react-dom/client';
import { PharmacyApp } from './PharmacyApp.tsx';

createRoot(document.getElementById('root')!).render(<PharmacyApp />);
