/** The small fault drill on one Redis of its own: its Redis fault is a restart (test/drill/suite.ts). */
import { drillSuite } from './suite.js';

drillSuite('single');
