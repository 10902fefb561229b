// Types of client.mjs: the names of the global DjangoAsgiWs (client.d.ts),
// which importing the module defines too.
/// <reference path="./client.d.ts" />

export declare const Connection: typeof DjangoAsgiWs.Connection;
export type Connection = DjangoAsgiWs.Connection;
export declare const RequestError: typeof DjangoAsgiWs.RequestError;
export type RequestError = DjangoAsgiWs.RequestError;

export type State = DjangoAsgiWs.State;
export type Members = DjangoAsgiWs.Members;
export type Ticket = DjangoAsgiWs.Ticket;
export type Options = DjangoAsgiWs.Options;
export type PresenceChange = DjangoAsgiWs.PresenceChange;
export type Events = DjangoAsgiWs.Events;
