// A boundary probe of test/helpers/tsc-probe.ts: removed after the compile.
import * as probe from '../shared/time.js';
export { probe };
