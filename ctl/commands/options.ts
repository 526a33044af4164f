// Options several commands share, and their values as query parameters (checked, named in errors).
import { stringOption, type OptionSpec, type OptionValues } from '../args.js';
import { hostValue, intValue, tenantValue, timeValue } from '../values.js';

export const hostFilter = (help = "only this host's"): OptionSpec => ({ name: 'host', type: 'string', value: 'HOST', help });
export const tenantFilter = (help = "only this tenant's"): OptionSpec => ({ name: 'tenant', type: 'string', value: 'TENANT', help });
export const limitOption = (help: string): OptionSpec => ({ name: 'limit', type: 'string', value: 'N', help });
export const sinceOption = (help = 'from TIME (24h, 7d, ISO-8601)'): OptionSpec => ({ name: 'since', type: 'string', value: 'TIME', help });
export const untilOption = (help = 'to TIME (default now)'): OptionSpec => ({ name: 'until', type: 'string', value: 'TIME', help });

/** The option's value passed through `parse` (which names the option in its errors), or undefined when not given. */
export function optionValue<T>(options: OptionValues, name: string, parse: (option: string, text: string) => T): T | undefined {
  const v = stringOption(options, name);
  return v === undefined ? undefined : parse(`--${name}`, v);
}

export const hostQuery = (o: OptionValues): string | undefined => optionValue(o, 'host', hostValue);
export const tenantQuery = (o: OptionValues): string | undefined => optionValue(o, 'tenant', tenantValue);
export const limitQuery = (o: OptionValues, max: number): number | undefined => optionValue(o, 'limit', (n, v) => intValue(n, v, 1, max));

/** A TIME option passed on as the API takes it (a duration back from now, ISO-8601, now), once checked. */
export const timeQuery = (o: OptionValues, name: 'since' | 'until', now: number): string | undefined =>
  optionValue(o, name, (n, v) => {
    timeValue(n, v, now);
    return v;
  });
