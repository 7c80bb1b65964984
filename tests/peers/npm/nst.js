// Drive node-sonos-ts (@svrooij/sonos) against a household, as a home-automation app would.
// usage: node nst.js <ip> <port>   (SONOS_LISTENER_HOST / SONOS_LISTENER_PORT set by the test)
// Prints one JSON object a line (NDJSON) for each step and event; reads commands on stdin:
// "volume N" (SetVolume), "play URI" (SetAVTransportURI + Play), "quit".
'use strict'
const readline = require('readline')
const { SonosManager, SonosEventListener } = require('@svrooij/sonos')

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const fail = (e) => { out({ error: String((e && e.message) || e) }); process.exit(1) }

;(async () => {
  const [ip, port] = process.argv.slice(2)
  const manager = new SonosManager()
  await manager.InitializeFromDevice(ip, Number(port))
  out({
    devices: manager.Devices.map((d) => ({
      uuid: d.Uuid, host: d.Host, port: d.Port, name: d.Name, coordinator: d.Coordinator.Uuid
    }))
  })
  const device = manager.Devices.find((d) => d.Host === ip && d.Port === Number(port))
  device.Events.on('renderingcontrol', (e) => {
    if (e.Volume) out({ event: 'renderingcontrol', volume: e.Volume, mute: e.Mute })
  })
  device.Events.on('volume', (v) => out({ event: 'volume', value: v }))
  device.Events.on('transportState', (s) => out({ event: 'transport', value: s }))
  device.Events.on('subscriptionError', (e) => out({ event: 'subscriptionError', value: String(e) }))
  // The subscriptions are made out of band: wait for them (bounded).
  const listener = SonosEventListener.DefaultInstance
  for (let i = 0; i < 100 && listener.GetStatus().subscriptionCount < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  out({ ready: listener.GetStatus().subscriptionCount })
  const commands = readline.createInterface({ input: process.stdin })
  for await (const line of commands) {
    const [command, argument] = line.trim().split(/\s+/, 2)
    if (command === 'volume') {
      out({ setVolume: await device.SetVolume(Number(argument)) })
    } else if (command === 'play') {
      await device.SetAVTransportURI(argument)
      out({ play: await device.Play() })
    } else if (command === 'quit') {
      break
    }
  }
  device.CancelEvents()
  manager.CancelSubscription()
  await new Promise((resolve) => setTimeout(resolve, 300)) // the UNSUBSCRIBEs go out
  await listener.StopListener().catch(() => {})
  out({ done: true })
  process.exit(0)
})().catch(fail)
