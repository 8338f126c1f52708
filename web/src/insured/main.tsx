import { createRoot } from 'react-dom/client';
import { InsuredApp } from './InsuredApp.tsx';

createRoot(document.getElementById('root')!).render(<InsuredApp />);
