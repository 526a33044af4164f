// How a host's reports reach the controller: additive fields of GET /v1/hosts and GET /v1/hosts/{host}
// (controller/transport.ts fills them). Kept in the controller's memory: after a controller restart they are
// null until the host's next report.
import { Type, type Static } from 'typebox';

export const HostTransportProperties = {
  transport: Type.Optional(
    Type.Union([Type.Literal('http'), Type.Literal('https'), Type.Null()], {
      description: "how the host's newest report since the controller started arrived: https (TLS) or http (plain); null: none since the start",
    }),
  ),
  insecure_transport: Type.Optional(
    Type.Boolean({ description: "true when that report came over plain HTTP from an address that is not loopback: the host's token crossed the network unencrypted" }),
  ),
  transport_warning: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'what to do about an insecure transport, in a sentence; null when there is nothing to do' })),
};

export const HostTransportSchema = Type.Object(HostTransportProperties, { additionalProperties: false });
export type HostTransport = Static<typeof HostTransportSchema>;
