const autocannon = require('/work/main/node_modules/autocannon')
const fs = require('fs')
const pid = process.argv[2], path = process.argv[3], method = process.argv[4] || 'GET', body = process.argv[5]
const cpu = () => { const f = fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100 }
const c0 = cpu()
autocannon({ url: 'http://127.0.0.1:3919', connections: 32, duration: 5, requests: [{ method, path, body, headers: { authorization: 'Bearer sk_live_entlBCS-TrGn6mZdRo8vd6Jd3pIchrGAFal_mNoKLQF28gPe0YwyLb52sEWEK_xW', 'content-type': 'application/json' } }] }, (e, r) => {
  const n = r['2xx'] + r.non2xx
  console.log(path, method, 'req/s', (n / r.duration).toFixed(0), 'status2xx', r['2xx'], 'cpu µs/req', ((cpu() - c0) * 1e6 / n).toFixed(0))
})
