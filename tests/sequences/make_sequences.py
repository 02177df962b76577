# SPDX-License-Identifier: Apache-2.0
"""Writes the hand-written sequences (tests/sequences/*.json) from scenarios.md C-H.

The JSON files are the source of truth for the tests; this script is how they were authored.
Re-run it after editing: python3 tests/sequences/make_sequences.py
"""
import json, os
OUT=os.path.dirname(os.path.abspath(__file__))
MAX=9223372036854775807
def B(name, prio=3, count=1, checksum=0, subs=None):
    b={"bucket":name,"checksum":checksum,"priority":prio,"count":count}
    if subs is not None: b["subscriptions"]=subs
    return b
PRIO=[B("prio%d"%i,prio=i) for i in range(4)]
def ctl(cmd,payload=None,**kw):
    s={"control":[cmd,payload]}; s.update(kw); return s
def line(obj,**kw): return ctl("line_text",obj,**kw)
def cp(last,buckets,wc=None,streams=None,**kw):
    c={"last_op_id":str(last),"buckets":buckets}
    if wc is not None: c["write_checkpoint"]=str(wc)
    if streams is not None: c["streams"]=streams
    return line({"checkpoint":c},**kw)
def diff(last,updated,removed=(),wc=None,**kw):
    c={"last_op_id":str(last),"updated_buckets":updated,"removed_buckets":list(removed)}
    if wc is not None: c["write_checkpoint"]=str(wc)
    return line({"checkpoint_diff":c},**kw)
def op(op_id,row_id,data=None,typ="items",op="PUT",checksum=0):
    o={"op_id":str(op_id),"op":op,"object_type":typ,"object_id":row_id,"checksum":checksum}
    if op=="PUT": o["data"]=json.dumps(data if data is not None else {"col":"hi"},separators=(',',':'))
    return o
def data(bucket,ops,**kw): return line({"data":{"bucket":bucket,"data":ops}},**kw)
def complete(last,**kw): return line({"checkpoint_complete":{"last_op_id":str(last)}},**kw)
def partial(last,prio,**kw): return line({"partial_checkpoint_complete":{"last_op_id":str(last),"priority":prio}},**kw)
def sql(s,args=(),**kw):
    d={"sql":[s,list(args)]}; d.update(kw); return d
def start(payload=None,seed=True,**kw):
    out=[ctl("start",payload,**kw)]
    if seed: out.append(ctl("seed_checkpoint_request_id",1))
    return out
def local(id="local",col="data"): return sql("INSERT INTO items (id, col) VALUES (?, ?)",[id,col])
APPLIED={"LogLine":{"severity":"DEBUG","line":"Validated and applied checkpoint"}}
BLOCKED={"LogLine":{"severity":"INFO","line":"Could not apply checkpoint due to local data. Will retry at completed upload or next checkpoint."}}
def seq(name,scenario,steps,expect_final=None,schema="default",desc=None):
    flat=[]
    for s in steps:
        if isinstance(s,list): flat+=s
        else: flat.append(s)
    d={"scenario":scenario}
    if desc: d["description"]=desc
    if schema!="default": d["schema"]=schema
    d["steps"]=flat
    if expect_final is not None: d["expect_final"]=expect_final
    with open(os.path.join(OUT,name+".json"),"w") as f:
        json.dump(d,f,indent=1,ensure_ascii=False); f.write("\n")
def items(*rows): return {"views":{"items":[{"id":i,"col":c} for i,c in rows]}}

seq("c21-start-golden","21",[ctl("start",{"parameters":{"foo":"bar"}},expect=[
 {"UpdateSyncStatus":{"status":{"connected":False,"connecting":True,"priority_status":[],"downloading":None,"streams":[]}}},
 {"EstablishSyncStream":{"request":{"buckets":[],"include_checksum":True,"raw_data":True,"binary_data":True,"client_id":"test-test-test-test","parameters":{"foo":"bar"},"streams":{"include_defaults":True,"subscriptions":[]},"app_metadata":"$absent"},"checkpoint_request":"$absent"}}])])
seq("c22-app-metadata","22",[ctl("start",{"app_metadata":{"key1":"value1","key2":"value2"}},expect={"$contains":[{"EstablishSyncStream":{"request":{"app_metadata":{"key1":"value1","key2":"value2"}}}}]})])
seq("c23-connection-events","23",[start(),ctl("connection","established",expect=[{"UpdateSyncStatus":{"status":{"connected":True,"connecting":False}}}]),
 ctl("connection","end",expect=[{"UpdateSyncStatus":{"status":{"connected":False}}},{"CloseSyncStream":{"hide_disconnect":False}}]),
 ctl("connection","weird",expect_error={"message":"$contains_text:connection"})])
seq("c25-local-data-blocks","25",[start(),cp(1,PRIO),local(),data("prio1",[op(1,"row-0")]),complete(1,expect=[BLOCKED])],items(("local","data")))
seq("c26-prio0-ignores-local","26",[start(),cp(1,PRIO),local(),data("prio0",[op(1,"row-0")]),partial(1,0)],items(("local","data"),("row-0","hi")))
seq("c27-local-second-checkpoint","27",[start(),cp(1,PRIO),data("prio1",[op(1,"row-0")]),complete(1),local(),cp(2,PRIO),data("prio1",[op(2,"row-1")]),complete(2,expect=[BLOCKED])],items(("local","data"),("row-0","hi")))
steps=[start(),cp(4,PRIO)]+[data("prio%d"%i,[op(i+1,"row-%d"%i,{"col":str(i)})]) for i in range(4)]
for i in range(4):
    steps.append(partial(4,i) if i<3 else complete(4)); steps.append(sql("SELECT json_group_array(priority) FROM ps_sync_state",expect=[i if i<3 else 2147483647]))
seq("c28-partial-per-priority","28",steps,items(*[("row-%d"%i,str(i)) for i in range(4)]))
steps=[start()]
for k in range(10):
    steps+= [cp(k+1,PRIO),partial(k+1,1),partial(k+1,2),partial(k+1,3),complete(k+1),sql("SELECT count(*) FROM ps_sync_state",expect=1),{"clock":"+1h"}]
seq("c29-repeated-syncs","29",steps)
seq("c30-sync-state-survives-restart","30",[start(),cp(1,[B("a")],wc=1),complete(1,expect={"$contains":[{"DidCompleteSync":{"applied_checkpoint_request_id":"1"}}]}),{"clock":"+10m"},
 cp(2,[B("a",prio=2)]),partial(2,2),ctl("stop"),
 ctl("start",None,expect={"$contains":[{"UpdateSyncStatus":{"status":{"internal_last_applied_checkpoint_request_id":"$absent","priority_status":[{"priority":2,"has_synced":True},{"priority":2147483647,"has_synced":True}]}}}]}),
 ctl("stop"),
 sql("SELECT powersync_offline_sync_status()",expect={"connected":False,"connecting":False,"priority_status":[{"priority":2},{"priority":2147483647}],"downloading":None,"streams":[]})])
seq("c31-old-buckets-deleted","31",[start(),cp(3,[B("one"),B("two"),B("three")]),data("one",[op(1,"r1")]),data("two",[op(2,"r2")]),data("three",[op(3,"r3")]),complete(3),ctl("stop"),
 ctl("start",None,expect={"$contains":[{"EstablishSyncStream":{"request":{"buckets":[{"name":"one","after":"3"},{"name":"two","after":"3"},{"name":"three","after":"3"}]}}}]}),
 cp(3,[B("one")]),sql("SELECT json_group_array(name) FROM ps_buckets",expect=["one"])])
seq("c32-bson-double-checksum","32",[start(),cp(1,[B("a",checksum=3573495687)]),
 ctl("line_binary",{"data":{"bucket":"a","data":[{"op_id":"1","op":"PUT","object_type":"items","object_id":"1","checksum":3573495687.0,"data":"{\"col\":\"hi\"}"}]}}),complete(1,expect={"$contains":[APPLIED]})],items(("1","hi")))
seq("c33-unknown-line","33",[start(),line({"foo":{"bar":1}},expect=[{"LogLine":{"severity":"DEBUG","line":"Unknown sync line"}},{"UpdateSyncStatus":{"status":{"connected":True}}}]),line({"foo":{"bar":1}},expect=[{"LogLine":{"severity":"DEBUG","line":"Unknown sync line"}}])])
seq("c34-token-handling","34",[start(),line({"token_expires_in":31},expect={"$contains":[]}),line({"token_expires_in":30},expect=[{"FetchCredentials":{"did_expire":False}}]),
 ctl("refreshed_token",None,expect=[{"CloseSyncStream":{"hide_disconnect":True}}]),start(),line({"token_expires_in":0},expect={"$contains":[{"FetchCredentials":{"did_expire":True}},{"CloseSyncStream":{"hide_disconnect":False}}]}),
 line({"token_expires_in":100},expect_error={"code":21})])
seq("c35-start-while-active","35",[start(),cp(1,[B("a")]),ctl("start",None,expect=[{"UpdateSyncStatus":{"status":{"connected":False,"connecting":True}}},{"EstablishSyncStream":{}}])])
seq("c36-in-sync-operation","36",[sql("CREATE TABLE trace(v)"),sql("CREATE TRIGGER tr AFTER INSERT ON ps_data__items BEGIN INSERT INTO trace VALUES (powersync_in_sync_operation()); END"),
 start(),cp(1,[B("a")]),data("a",[op(1,"r")]),complete(1),sql("SELECT json_group_array(v) FROM trace",expect=[1]),sql("SELECT powersync_in_sync_operation()",expect=0)])
# D
a10=[op(i,"r%d"%i) for i in range(1,11)]
def prog(**buckets): return {"$contains":[{"UpdateSyncStatus":{"status":{"downloading":{"buckets":buckets}}}}]}
seq("d37-progress-no-priorities","37",[start(),cp(10,[B("a",count=10)],expect=prog(prio_3={"at_last":0,"since_last":0,"target_count":10})),data("a",a10,expect=prog(prio_3={"since_last":10,"target_count":10})),
 complete(10,expect={"$contains":[{"UpdateSyncStatus":{"status":{"downloading":None}}}]}),diff(12,[B("a",count=12)],expect=prog(prio_3={"at_last":0,"since_last":0,"target_count":2})),
 data("a",[op(11,"r11"),op(12,"r12")],expect=prog(prio_3={"since_last":2})),complete(12)])
seq("d38-interrupted","38",[start(),cp(10,[B("a",count=10)]),data("a",a10[:5],expect=prog(prio_3={"since_last":5,"target_count":10})),ctl("stop",None,expect={"$contains":[{"UpdateSyncStatus":{"status":{"downloading":None}}}]}),
 start(),cp(10,[B("a",count=10)],expect=prog(prio_3={"at_last":0,"since_last":5,"target_count":10})),data("a",a10[5:],expect=prog(prio_3={"since_last":10})),complete(10)])
seq("d39-interrupted-new-checkpoint","39",[start(),cp(10,[B("a",count=10)]),data("a",a10[:5]),ctl("stop"),start(),cp(12,[B("a",count=12)],expect=prog(prio_3={"since_last":5,"target_count":12})),
 data("a",a10[5:]+[op(11,"r11"),op(12,"r12")],expect=prog(prio_3={"since_last":12,"target_count":12})),complete(12)])
seq("d40-defrag","40",[start(),cp(10,[B("a",count=10)]),data("a",a10[:5]),ctl("stop"),start(),cp(14,[B("a",count=4)],expect=prog(prio_3={"at_last":0,"since_last":0,"target_count":4})),
 sql("SELECT json_array(count_at_last, count_since_last) FROM ps_buckets WHERE name='a'",expect=[0,0])])
seq("d41-progress-priorities","41",[start(),cp(10,[B("a",prio=0,count=5),B("b",prio=2,count=5)],expect=prog(prio_0={"since_last":0,"target_count":5},prio_2={"since_last":0,"target_count":5})),
 data("a",[op(i,"a%d"%i) for i in range(1,6)],expect=prog(prio_0={"since_last":5,"target_count":5},prio_2={"since_last":0,"target_count":5})),
 data("b",[op(i,"b%d"%i) for i in range(6,8)],expect=prog(prio_0={"since_last":5},prio_2={"since_last":2,"target_count":5})),
 diff(12,[B("a",prio=0,count=8),B("b",prio=2,count=6)],expect=prog(prio_0={"at_last":0,"since_last":5,"target_count":8},prio_2={"at_last":0,"since_last":2,"target_count":6})),
 data("a",[op(i,"a%d"%i) for i in range(8,11)],expect=prog(prio_0={"since_last":8,"target_count":8},prio_2={"since_last":2,"target_count":6})),
 data("b",[op(i,"b%d"%i) for i in range(11,13)]+[op(13,"b13"),op(14,"b14")],expect=prog(prio_0={"since_last":8},prio_2={"since_last":6,"target_count":6})),
 complete(14,expect={"$contains":[{"UpdateSyncStatus":{"status":{"downloading":None}}}]})])
seq("d42-persisted-counters","42",[start(),cp(0,[B("bkt",count=2)]),complete(0),data("bkt",[op(1,"r1")]),sql("SELECT json_array(count_at_last,count_since_last) FROM ps_buckets",expect=[0,1]),
 data("bkt",[op(2,"r2")]),sql("SELECT json_array(count_at_last,count_since_last) FROM ps_buckets",expect=[0,2]),complete(2),sql("SELECT json_array(count_at_last,count_since_last) FROM ps_buckets",expect=[2,0])])
seq("d43-download-size","43",[start(),cp(2,[B("a",count=2)]),data("a",[op(1,"row-0")]),data("a",[op(2,"row-1",{"col":"hi again"})]),sql("SELECT downloaded_size FROM ps_buckets",expect=len(json.dumps({"data":{"bucket":"a","data":[op(1,"row-0")]}},separators=(",",":")))+len(json.dumps({"data":{"bucket":"a","data":[op(2,"row-1",{"col":"hi again"})]}},separators=(",",":"))))])
# E
seq("e44-initial-request-payload","44",[ctl("start",{"checkpoint_mode":"requests"},expect={"$contains":[{"EstablishSyncStream":{"checkpoint_request":{"client_id":"test-test-test-test","checkpoint_request_id":"1"}}}]}),
 ctl("target_checkpoint_request_id",4),ctl("start",{"checkpoint_mode":"requests"},expect={"$contains":[{"EstablishSyncStream":{"checkpoint_request":{"checkpoint_request_id":"4"}}}]}),
 ctl("seed_checkpoint_request_id",7,expect=7),ctl("start",{"checkpoint_mode":"requests"},expect={"$contains":[{"EstablishSyncStream":{"checkpoint_request":{"checkpoint_request_id":"7"}}}]}),
 ctl("target_checkpoint_request_id",MAX),ctl("start",{"checkpoint_mode":"requests"},expect={"$contains":[{"EstablishSyncStream":{"checkpoint_request":{"checkpoint_request_id":"7"}}}]})])
seq("e45-legacy-omits-request","45",[ctl("start",None,expect={"$contains":[{"EstablishSyncStream":{"checkpoint_request":"$absent"}}]})])
seq("e46-e47-allocation-and-current","46,47",[ctl("current_checkpoint_request_id",None,expect=None),start(),ctl("current_checkpoint_request_id",None,expect=1),ctl("current_checkpoint_request_id",None,expect=1),
 ctl("next_checkpoint_request_id",None,expect=2),ctl("current_checkpoint_request_id",None,expect=2),cp(1,[B("a")],wc=2),complete(1),
 sql("SELECT value FROM ps_kv WHERE key='last_applied_checkpoint_request_id'",expect=2),local(),sql("SELECT count(*) FROM ps_kv WHERE key='last_applied_checkpoint_request_id'",expect=0),
 ctl("current_checkpoint_request_id",None,expect=2),ctl("next_checkpoint_request_id",None,expect=3)])
seq("e48-e49-seed","48,49",[ctl("start",{"checkpoint_mode":"requests"}),ctl("seed_checkpoint_request_id",41,expect=41),ctl("next_checkpoint_request_id",None,expect=42),
 ctl("start",{"checkpoint_mode":"requests"},expect={"$contains":[{"EstablishSyncStream":{"checkpoint_request":{"checkpoint_request_id":"42"}}}]}),
 ctl("seed_checkpoint_request_id",100),ctl("next_checkpoint_request_id",None,expect=101),ctl("seed_checkpoint_request_id",5,expect=5),ctl("next_checkpoint_request_id",None,expect=6)])
seq("e50-seed-validation","50",[ctl("seed_checkpoint_request_id",3,expect_error={"code":21,"message":"$contains_text:No iteration is active"}),start(seed=False),
 ctl("seed_checkpoint_request_id",None,expect_error={"code":3091,"message":"$contains_text:checkpoint request id must be an integer or integer string"}),
 ctl("seed_checkpoint_request_id",0,expect_error={"code":3091,"message":"$contains_text:must be a positive integer"}),
 ctl("seed_checkpoint_request_id","41",expect=41),ctl("next_checkpoint_request_id",None,expect=42)])
seq("e51-next-needs-seed","51",[start(seed=False),ctl("next_checkpoint_request_id",None,expect_error={"code":21,"message":"$contains_text:Checkpoint request state has not been seeded"}),ctl("target_checkpoint_request_id",None,expect=None)])
seq("e52-target-probing","52",[ctl("target_checkpoint_request_id",None,expect=None),ctl("target_checkpoint_request_id",1,expect=None),ctl("current_checkpoint_request_id",None,expect=None),
 ctl("target_checkpoint_request_id",None,expect=1),ctl("target_checkpoint_request_id",2,expect=1),ctl("target_checkpoint_request_id",None,expect=2),ctl("target_checkpoint_request_id","1",expect=2),
 ctl("target_checkpoint_request_id",-1,expect_error={"code":3091,"message":"$contains_text:target checkpoint request id must be a non-negative integer"}),
 ctl("target_checkpoint_request_id",0,expect=1),ctl("target_checkpoint_request_id",None,expect=None),ctl("target_checkpoint_request_id",MAX,expect=None),ctl("current_checkpoint_request_id",None,expect=None),
 start(seed=False),ctl("seed_checkpoint_request_id",10),ctl("target_checkpoint_request_id",7),ctl("current_checkpoint_request_id",None,expect=10)])
seq("e53-sentinel-never-counter","53",[local(),ctl("start",{"checkpoint_mode":"requests"},expect={"$contains":[{"EstablishSyncStream":{"checkpoint_request":{"checkpoint_request_id":"1"}}}]}),
 sql("SELECT count(*) FROM ps_kv WHERE key='last_requested_checkpoint_request_id'",expect=0)])
seq("e54-partial-no-applied-id","54",[start(),cp(1,[B("a",prio=2)],wc=1),partial(1,2,expect=[{"UpdateSyncStatus":{"status":{"internal_last_applied_checkpoint_request_id":"$absent"}}}]),sql("SELECT count(*) FROM ps_kv WHERE key='last_applied_checkpoint_request_id'",expect=0)])
seq("e55-e56-e57-applied-id","55,56,57",[start(),cp(1,[B("a")],wc=1),complete(1,expect=[APPLIED,{"LogLine":{"severity":"DEBUG","line":"Applied checkpoint request id 1"}},{"DidCompleteSync":{"applied_checkpoint_request_id":"1"}},{"UpdateSyncStatus":{"status":{"internal_last_applied_checkpoint_request_id":"1"}}}]),
 cp(2,[B("a")],expect=[{"UpdateSyncStatus":{"status":{"internal_last_applied_checkpoint_request_id":"1"}}}]),complete(2,expect={"$contains":[{"DidCompleteSync":{"applied_checkpoint_request_id":"$absent"}},{"UpdateSyncStatus":{"status":{"internal_last_applied_checkpoint_request_id":"$absent"}}}]}),
 cp(3,[B("a")],wc=1),complete(3),ctl("stop",None,expect=[{"UpdateSyncStatus":{"status":{"connected":False,"internal_last_applied_checkpoint_request_id":"$absent"}}},{"CloseSyncStream":{"hide_disconnect":False}}])])
seq("e58-e59-marks","58,59",[start(),cp(1,[B("a")],wc=5),complete(1),cp(2,[B("a")],wc=3),complete(2,expect={"$contains":[{"DidCompleteSync":{"applied_checkpoint_request_id":"3"}}]}),
 sql("SELECT json_group_object(key,value) FROM ps_kv WHERE key LIKE '%checkpoint%'",expect={"last_seen_checkpoint_request_id":3,"last_applied_checkpoint_request_id":3}),
 local(),sql("SELECT json_group_object(key,value) FROM ps_kv WHERE key LIKE '%checkpoint%'",expect={"target_checkpoint_request_id":MAX,"last_requested_checkpoint_request_id":1,"last_seen_checkpoint_request_id":"$absent","last_applied_checkpoint_request_id":"$absent"})])
# F
seq("f60-write-checkpoint-before-upload","60",[local(),start(),sql("DELETE FROM ps_crud"),cp(1,[B("prio1",prio=1)],wc=1),data("prio1",[op(1,"row-0")]),complete(1,expect=[BLOCKED]),
 ctl("target_checkpoint_request_id",1),ctl("completed_upload",None,expect={"$contains":[{"LogLine":{"severity":"DEBUG","line":"Applied checkpoint request id 1"}}]})],items(("row-0","hi")))
seq("f61-target-before-checkpoint","61",[local(),start(),sql("DELETE FROM ps_crud"),ctl("target_checkpoint_request_id",1),ctl("completed_upload",None,expect=[]),ctl("current_checkpoint_request_id",None,expect=1),
 cp(1,[B("prio1",prio=1)],wc=1),data("prio1",[op(1,"row-0")]),complete(1,expect={"$contains":[APPLIED]})],items(("row-0","hi")))
seq("f62-checkpoint-without-w","62",[local(),start(),sql("DELETE FROM ps_crud"),cp(1,[B("prio1",prio=1)]),data("prio1",[op(1,"row-0")]),complete(1,expect=[BLOCKED]),
 ctl("target_checkpoint_request_id",1),ctl("completed_upload",None,expect=[]),cp(1,[B("prio1",prio=1)],wc=1),complete(1,expect={"$contains":[APPLIED]})],items(("row-0","hi")))
seq("f63-f64-second-local-write","63,64",[local(),start(),sql("DELETE FROM ps_crud"),cp(1,[B("prio1",prio=1)],wc=1),data("prio1",[op(1,"row-0")]),complete(1,expect=[BLOCKED]),
 local("local2","data2"),ctl("target_checkpoint_request_id",1),ctl("completed_upload",None,expect=[{"LogLine":{"severity":"WARNING","line":"Could not apply pending checkpoint even after completed upload"}}]),
 {"snapshot":None},sql("DELETE FROM ps_crud"),ctl("completed_upload",None,expect=[])],items(("local","data"),("local2","data2")))
logs_schema={"tables":[{"name":"items","columns":[{"name":"col","type":"text"}]},{"name":"logs","insert_only":True,"columns":[{"name":"msg","type":"text"}]}]}
seq("f65-insert-only-blocks-while-queued","65",[sql("INSERT INTO logs (id, msg) VALUES ('l1','m')"),sql("SELECT count(*) FROM ps_kv WHERE key='target_checkpoint_request_id'",expect=0),start(),
 cp(1,[B("a")]),data("a",[op(1,"r")]),complete(1,expect=[BLOCKED]),sql("DELETE FROM ps_crud"),ctl("completed_upload",None,expect={"$contains":[{"LogLine":{"severity":"DEBUG","line":"Applied pending checkpoint after completed upload"}},{"DidCompleteSync":{}}]})],items(("r","hi")),schema=logs_schema)
# G
seq("g66-diff-without-checkpoint","66",[start(),diff(1,[B("a")],expect_error={"message":"$contains_text:checkpoint_diff without previous checkpoint"})])
seq("g67-checksum-mismatch","67",[start(),cp(1,[B("a",checksum=1234)]),data("a",[op(1,"r",checksum=4321)]),complete(1,expect=[{"LogLine":{"severity":"WARNING","line":"Could not apply checkpoint, Checksums didn't match, failed for: a (expected 0x000004d2, got 0x000010e1 = 0x000010e1 (op) + 0x00000000 (add))"}},{"CloseSyncStream":{"hide_disconnect":False}}]),
 sql("SELECT count(*) FROM ps_buckets",expect=0)])
seq("g68-partial-checksum-mismatch","68",[start(),cp(1,[B("a",prio=1,checksum=1234)]),data("a",[op(1,"r",checksum=4321)]),partial(1,1,expect=[{"LogLine":{"severity":"WARNING","line":"$contains_text:Could not apply partial checkpoint"}},{"CloseSyncStream":{"hide_disconnect":False}}])])
seq("g69-wrapping-checksums","69",[start(),cp(2,[B("a",checksum=-2,count=2)]),data("a",[op(1,"r1",checksum=-1),op(2,"r2",checksum=4294967295)]),complete(2,expect={"$contains":[APPLIED]}),
 sql("SELECT json_group_array(hash) FROM ps_oplog",expect=[-1,-1]),sql("SELECT op_checksum FROM ps_buckets",expect=4294967294)])
seq("g70-recoverable-busy","70",[start(),cp(1,[B("unrelated")]),data("unrelated",[op(1,"u")]),complete(1),ctl("stop"),start(),{"lock":"exclusive"},cp(1,[B("a")],expect_error={"code":5}),{"unlock":None},cp(1,[B("a")]),
 sql("SELECT json_group_array(name) FROM ps_buckets",expect=[]),{"lock":"exclusive"},data("a",[op(1,"r")],expect_error={"code":5}),{"unlock":None},data("a",[op(1,"r")],expect=prog(prio_3={"since_last":1})),
 {"lock":"exclusive"},complete(1,expect_error={"code":5}),{"unlock":None},complete(1,expect={"$contains":[APPLIED]})],items(("r","hi")))
seq("g71-invalid-json-line","71",[start(),ctl("line_text","invalid sync line",expect_error={"code":4,"message":"$contains_text:Sync protocol error: invalid text line"}),line({"token_expires_in":100},expect_error={"code":21,"message":"$contains_text:No iteration is active"})])
seq("g72-not-in-transaction","72",[sql("SELECT powersync_control('stop', NULL)",expect_error={"code":21,"message":"$contains_text:may only be called in transactions"}),
 sql("SELECT powersync_init()",expect_error={"code":21}),sql("SELECT powersync_replace_schema('{}')",expect_error={"code":21}),sql("SELECT powersync_clear(0)",expect_error={"code":21})])
seq("g73-missing-client-id","73",[sql("DELETE FROM ps_kv"),sql("SELECT powersync_client_id()",expect_error={"code":4,"message":"$contains_text:No client_id found in ps_kv"})])
seq("g74-complete-without-checkpoint","74",[start(),complete(1,expect_error={"code":4}),line({"token_expires_in":100},expect_error={"code":21}),start(),partial(1,1,expect_error={"message":"$any"}),line({"token_expires_in":100},expect_error={"code":21})])
# H
seq("h75-hard-clear","75",[start(),cp(1,[B("a")]),data("a",[op(1,"row-0")]),complete(1),ctl("stop"),sql("SELECT count(*) FROM ps_sync_state",expect=1),
 {"sql_tx":[["SELECT powersync_clear(0)",[]]]},sql("SELECT count(*) FROM ps_sync_state",expect=0),sql("SELECT count(*) FROM ps_buckets",expect=0)])
seq("h76-soft-clear","76",[start(),cp(1,[B("a")]),data("a",[op(1,"row-0")]),complete(1),local(),ctl("stop"),{"sql_tx":[["SELECT powersync_clear(2)",[]]]},{"schema":{"tables":[{"name":"items","columns":[{"name":"col","type":"text"}]}]}},
 sql("SELECT count(*) FROM items",expect=0),ctl("start",None,expect={"$contains":[{"EstablishSyncStream":{"request":{"buckets":[{"name":"a","after":"1"}]}}}]}),cp(1,[B("a")]),complete(1)],items(("row-0","hi")))
seq("h77-h78-clear-while-syncing","77,78",[start(),{"sql_tx":[["SELECT powersync_clear(2)",[]]],"expect_error":{"message":"$contains_text:Cannot clear or trigger resync while a sync iteration is active"}},
 {"sql_tx":[["SELECT powersync_trigger_resync(1)",[]]],"expect_error":{"code":3091}},{"sql_tx":[["SELECT powersync_clear(0)",[]]]}])
seq("h79-h80-resync","79,80",[start(),cp(1,[B("a")]),data("a",[op(1,"row-0")]),complete(1),ctl("stop"),sql("DELETE FROM ps_data__items"),{"sql_tx":[["SELECT powersync_trigger_resync(0)",[]]]},
 ctl("start",None,expect={"$contains":[{"EstablishSyncStream":{"request":{"buckets":[{"name":"a","after":"1"}]}}}]}),cp(1,[B("a")]),complete(1),ctl("stop"),
 {"sql_tx":[["SELECT powersync_trigger_resync(1)",[]]]},sql("SELECT powersync_offline_sync_status()",expect={"priority_status":[]})],items(("row-0","hi")))
print("ok")
# J (streams)
def stream(name, default=True, errors=()):
    return {"name":name,"is_default":default,"errors":list(errors)}
seq("j93-default-stream-created","93",[start(),cp(1,[B("a",prio=1,subs=[{"default":0}])],streams=[stream("my_default_stream")],
 expect=[{"UpdateSyncStatus":{"status":{"streams":[{"name":"my_default_stream","parameters":None,"progress":{"total":1,"downloaded":0},"active":True,"is_default":True,"has_explicit_subscription":False,"expires_at":None,"last_synced_at":None,"priority":1}]}}}]),
 partial(1,1,expect=[{"UpdateSyncStatus":{"status":{"streams":[{"name":"my_default_stream","last_synced_at":"<µs>"}]}}}]),
 sql("SELECT count(*) FROM ps_stream_subscriptions WHERE last_synced_at IS NOT NULL",expect=1)])
seq("j94-default-stream-removed","94",[start(),cp(1,[B("a",subs=[{"default":0}])],streams=[stream("s1")]),cp(2,[B("a",subs=[{"default":0}])],streams=[stream("s2")]),
 sql("SELECT json_group_array(stream_name) FROM ps_stream_subscriptions",expect=["s2"])])
seq("j95-explicit-and-default","95",[start(),cp(1,[B("a",subs=[{"default":0}])],streams=[stream("a")]),ctl("stop"),
 ctl("subscriptions",{"subscribe":{"stream":{"name":"a"}}}),sql("SELECT json_array(active,is_default,ttl IS NOT NULL) FROM ps_stream_subscriptions",expect=[1,1,1]),
 start(),cp(2,[]),sql("SELECT json_array(active,is_default,ttl IS NOT NULL) FROM ps_stream_subscriptions",expect=[0,0,1])])
seq("j96-stream-errors","96",[start(),cp(1,[B("a",subs=[{"default":0}])],streams=[stream("a",errors=[{"subscription":"default","message":"error message"}])],
 expect={"$contains":[{"LogLine":{"line":"$contains_text:Default subscription a has errors: error message"}}]})])
seq("j97-unsubscribe","97",[ctl("subscriptions",{"subscribe":{"stream":{"name":"my_stream"},"ttl":3600}}),
 ctl("start",None,expect={"$contains":[{"EstablishSyncStream":{"request":{"streams":{"subscriptions":[{"stream":"my_stream"}]}}}}]}),ctl("stop"),
 ctl("subscriptions",{"unsubscribe":{"name":"my_stream","params":None}}),ctl("start",None,expect={"$contains":[{"EstablishSyncStream":{"request":{"streams":{"subscriptions":[]}}}}]})])
# The payload is passed as text so the params keep their spacing; quote() keeps the result text.
seq("j98-params-textual","98",[ctl("subscriptions",'{"subscribe":{"stream":{"name":"s","params":{"a": 1}}}}'),sql("SELECT quote(local_params) FROM ps_stream_subscriptions",expect="'{\"a\": 1}'"),
 start(),ctl("update_subscriptions",[]),ctl("update_subscriptions",[{"name":"s","params":{"a":1}}])])
# Subscription commands: validation, priority merging, parameters kept as text.
SUBS_TABLE="SELECT json_group_array(json_array(stream_name,local_params,local_priority,ttl,expires_at IS NOT NULL,active)) FROM ps_stream_subscriptions"
def subscribe(name,params=None,**extra):
    st={"name":name}
    if params is not None: st["params"]=params
    d={"stream":st}; d.update(extra)
    return {"subscribe":d}
seq("j99-subscription-commands","99",[ctl("subscriptions",subscribe("a",ttl=-1)),ctl("subscriptions",subscribe("b",ttl=1.5)),ctl("subscriptions",subscribe("c",ttl="10")),
 ctl("subscriptions",subscribe("d",ttl=None)),ctl("subscriptions",subscribe("e",priority=-1)),ctl("subscriptions",subscribe("f",priority=5)),
 ctl("subscriptions",subscribe("g",priority=None,extra=1)),ctl("subscriptions",{"subscribe":{"stream":{"name":"h"}},"unsubscribe":{"name":"h"}}),
 ctl("subscriptions",'{"subscribe":{"stream":{"name":"i","params":{"x": [1, 2.50], "b": true}}}}'),ctl("subscriptions",'{"subscribe":{"stream":{"name":"j","params":{"x": }}}}'),
 ctl("subscriptions",subscribe("k",5)),ctl("subscriptions",subscribe("l","str")),ctl("subscriptions",{"subscribe":{"stream":{"params":{}}}}),
 ctl("subscriptions",subscribe("m",priority=2)),ctl("subscriptions",subscribe("m",priority=3)),ctl("subscriptions",subscribe("m",priority=1)),ctl("subscriptions",subscribe("m")),
 ctl("subscriptions",subscribe("n")),ctl("subscriptions",subscribe("n",priority=1)),ctl("subscriptions",{"unsubscribe":{"name":"zz"}}),ctl("subscriptions",{"unsubscribe":{"name":"m"}}),
 ctl("subscriptions",{}),ctl("subscriptions",{"other":1}),ctl("subscriptions","[1]"),
 ctl("subscriptions",'{"unsubscribe":{"name":"i","params":{"x":[1,2.50],"b":true}}}'),sql(SUBS_TABLE),
 ctl("start",None),ctl("stop"),ctl("subscriptions",'{"unsubscribe":{"name":"i","params":{"x": [1, 2.50], "b": true}}}'),sql(SUBS_TABLE),start(),
 ctl("update_subscriptions","[{"),ctl("update_subscriptions",[{"params":{}}]),ctl("update_subscriptions",'[{"name":"d","params":null}]'),ctl("stop"),ctl("subscriptions",subscribe("o",ttl=0)),sql(SUBS_TABLE)])
# Stream status over an iteration: a snapshot per checkpoint (also per checkpoint_diff), progress
# only while downloading, last_synced_at for every listed stream on a full apply.
seq("j100-stream-status-lifecycle","100",[ctl("subscriptions",'{"subscribe":{"stream":{"name":"x","params":{"b": 2, "a": 1}},"priority":1}}'),
 ctl("subscriptions",subscribe("lonely")),start(),
 cp(1,[B("a",prio=2,count=2,subs=[{"default":0}]),B("b",prio=1,count=2,subs=[{"sub":0}]),B("c",prio=3,count=1,subs=[{"default":0},{"sub":0}])],
    streams=[stream("d",errors=[{"subscription":"default","message":"broken"}]),stream("x",default=False,errors=[{"subscription":0,"message":"bad params"}])]),
 ctl("subscriptions",subscribe("y")),data("b",[op(1,"r1")]),data("a",[op(2,"r2")]),
 diff(3,[B("a",prio=2,count=3,subs=[{"default":0}])]),data("b",[op(3,"r3")]),partial(3,1),data("a",[op(4,"r4"),op(5,"r5")]),data("c",[op(6,"r6")]),complete(6),
 cp(7,[B("a",prio=2,count=4,subs=[{"default":0}])],streams=[stream("d")]),data("a",[op(7,"r7")]),ctl("stop"),
 ctl("subscriptions",'{"unsubscribe":{"name":"x","params":{"b": 2, "a": 1}}}'),ctl("start",None),ctl("stop"),
 sql("SELECT powersync_offline_sync_status()"),sql(SUBS_TABLE)])
# A stream that is both default and explicitly subscribed: default buckets stay with the default row only.
seq("j101-default-and-explicit-buckets","101",[start(),cp(1,[B("a",subs=[{"default":0}])],streams=[stream("s")]),complete(1),ctl("stop"),
 ctl("subscriptions",subscribe("s")),ctl("subscriptions",subscribe("s",{"p":1})),start(),
 cp(2,[B("a",subs=[{"default":0}]),B("b",prio=1,subs=[{"sub":1}])],streams=[stream("s")]),data("b",[op(2,"r2")]),partial(2,1),complete(2),ctl("stop"),
 ctl("subscriptions",{"unsubscribe":{"name":"s"}}),start(),cp(3,[B("a",subs=[{"default":0}])],streams=[stream("s")]),data("a",[op(3,"r3")]),complete(3),
 sql(SUBS_TABLE)])
# K: mixed sessions (no single scenario): diffed against the reference core only.
def raw_op(op_id,kind,row=None,data=None,checksum=0,typ="items",subkey=None):
    o={"op_id":str(op_id),"op":kind,"checksum":checksum}
    if row is not None: o.update({"object_type":typ,"object_id":row})
    if data is not None: o["data"]=data
    if subkey is not None: o["subkey"]=subkey
    return o
seq("k01-streams-bson-tokens-errors",None,[
 ctl("subscriptions",'{"subscribe":{"stream":{"name":"explicit","params":{"x":1}},"ttl":3600}}'),
 ctl("start",'{"active_streams":[{"name":"explicit","params":{"x":1}}]}'),
 cp(2,[B("d",prio=1,count=2,checksum=3,subs=[{"default":0}]),B("e",count=0,subs=[{"sub":0}])],
    streams=[stream("def",errors=[{"subscription":"default","message":"boom"}]),stream("explicit",default=False)]),
 ctl("line_binary",{"data":{"bucket":"d","data":[raw_op(1,"PUT","x1",'{"col":"b"}',1),raw_op(2,"PUT","x2","{}",2.0)]}}),
 partial(2,1),complete(2),ctl("update_subscriptions",'[{"name":"explicit","params":{"x":1}}]'),
 line({"token_expires_in":100}),ctl("refreshed_token"),ctl("start"),diff(3,[]),ctl("start"),ctl("line_text","not json"),
 ctl("completed_upload"),ctl("start"),line({"token_expires_in":0}),ctl("target_checkpoint_request_id"),
 ctl("target_checkpoint_request_id","0"),ctl("current_checkpoint_request_id")])
seq("k02-mixed-session",None,[
 ctl("start",'{"parameters":{"p":1},"checkpoint_mode":"requests"}'),ctl("connection","established"),
 cp(5,[B("a",prio=1,count=3,checksum=10),B("b",count=2,checksum=9)],wc=1),
 data("a",[raw_op(1,"PUT","r1",'{"col":"one"}',1),raw_op(2,"PUT","r1",'{"col":"one v2"}',2),raw_op(3,"MOVE",checksum=7)]),
 ctl("seed_checkpoint_request_id","3"),ctl("current_checkpoint_request_id"),partial(5,1),
 data("b",[raw_op(4,"PUT","r2",'{"col":"two"}',4),raw_op(5,"PUT","r3",None,5)]),
 sql("INSERT INTO items(id, col) VALUES ('local', 'x')"),complete(5),sql("DELETE FROM ps_crud"),
 ctl("next_checkpoint_request_id"),ctl("target_checkpoint_request_id","4"),ctl("completed_upload"),
 diff(7,[B("b",count=3,checksum=20)],removed=["a"],wc=4),
 data("b",[raw_op(6,"REMOVE","r2",checksum=6),raw_op(7,"PUT","r4",'{"col":"four"}',5)]),complete(7),
 line({"token_expires_in":20}),line({"checkpoint":{"last_op_id":"8","buckets":[{"bucket":"b","checksum":1}]}}),complete(8),
 ctl("start"),line({"checkpoint":{"last_op_id":"9","buckets":[{"bucket":"c","checksum":-2,"priority":0}]}}),
 data("c",[raw_op(8,"PUT","c1","{}",-1),raw_op(9,"PUT","c2","{}",4294967295)]),partial(9,0),line({"unknown_line":{}}),ctl("stop")])
# Local writes through every table option: diffed against the reference core (ps_crud, ps_tx,
# ps_kv, ps_updated_rows and the views are in every snapshot).
LOCAL_WRITES_SCHEMA={"tables":[
 {"name":"items","columns":[{"name":"col","type":"text"},{"name":"n","type":"integer"},{"name":"r","type":"real"}]},
 {"name":"loc","columns":[{"name":"col","type":"text"}],"local_only":True},
 {"name":"ins","columns":[{"name":"col","type":"text"}],"insert_only":True},
 {"name":"meta","columns":[{"name":"col","type":"text"}],"include_metadata":True,"include_old":True},
 {"name":"oldc","columns":[{"name":"a","type":"text"},{"name":"b","type":"text"}],"include_old":["a"],"include_old_only_when_changed":True,"ignore_empty_update":True}]}
def tx(*statements,**kw):
    d={"sql_tx":[[s,[]] for s in statements]}; d.update(kw); return d
seq("k03-local-writes",None,[
 sql("INSERT INTO items(id, col, n, r) VALUES ('i1', 'x', 1, 1.5)"),sql("INSERT INTO items(id, col) VALUES ('i2', json_object('a', 1))"),
 sql("INSERT INTO items(id, n) VALUES ('i3', 'not a number')"),sql("INSERT INTO items(id, col) VALUES (NULL, 'x')"),sql("INSERT INTO items(id, col) VALUES (5, 'x')"),
 sql("UPDATE items SET n = n + 1 WHERE id = 'i1'"),sql("UPDATE items SET id = 'other' WHERE id = 'i1'"),sql("UPDATE items SET col = col"),
 tx("INSERT INTO items(id) VALUES ('t1')","INSERT INTO ins(id, col) VALUES ('n1', 'v')","DELETE FROM items WHERE id = 't1'"),
 # A transaction that fails half-way leaves nothing behind.
 tx("INSERT INTO items(id) VALUES ('t2')","SELECT no_such_function()",expect_error={"message":"$any"}),
 sql("INSERT INTO loc(id, col) VALUES ('l1', 'x')"),sql("UPDATE loc SET col = 'y'"),sql("INSERT INTO ins(id, col) VALUES ('n2', NULL)"),sql("UPDATE ins SET col = 'z'"),
 sql("INSERT INTO meta(id, col, _metadata) VALUES ('m1', 'a', 'created')"),sql("UPDATE meta SET col = 'b', _metadata = 42"),sql("UPDATE meta SET _deleted = TRUE, _metadata = 'gone'"),
 sql("INSERT INTO oldc(id, a, b) VALUES ('o1', 'a', 'b')"),sql("UPDATE oldc SET b = 'b2'"),sql("UPDATE oldc SET a = a"),sql("UPDATE oldc SET a = 'a2', b = NULL"),sql("DELETE FROM oldc"),
 {"snapshot":None},
 sql("INSERT INTO powersync_crud(op, id, type, data, options) VALUES ('PATCH', 'v', 'vt', '{}', 16)"),
 sql("INSERT INTO powersync_crud_(data, options) VALUES ('{\"op\":\"PATCH\",\"type\":\"x\",\"id\":\"1\",\"data\":{}}', 16)"),
 sql("INSERT INTO powersync_crud_(data) VALUES ('{\"op\":\"PUT\",\"type\":\"x\",\"id\":\"1\",\"data\":{}}')"),
 # The update of m1 is a PATCH carrying its metadata; the _deleted update is a DELETE.
 sql("SELECT count(*) FROM ps_crud WHERE data LIKE '%\"op\":\"PATCH\",\"id\":\"m1\"%'",expect=1),
 sql("SELECT count(*) FROM ps_data__items WHERE id = 't2'",expect=0)],schema=LOCAL_WRITES_SCHEMA)
print("ok")
