// What the router hands each admin page.
import type { Session } from '../wire.js';

export interface Ctx {
  session: Session;
  params: URLSearchParams;
  /** Path segments after the page's name, decoded. */
  rest: string[];
}
