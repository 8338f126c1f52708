import { createRoot } from 'react-dom/client';
import { PracticeApp } from './PracticeApp.tsx';

createRoot(document.getElementById('root')!).render(<PracticeApp />);
