package dev.nexus.sdk

import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference

/** Both call styles stop when cancelled, while the gateway still holds its answer. */
class CancellationTest {
    private class HangingGateway : AutoCloseable {
        val arrived = CountDownLatch(1)
        private val never = CountDownLatch(1)
        val server = Loopback {
            arrived.countDown()
            never.await(60, TimeUnit.SECONDS)
            Reply(503)
        }

        override fun close() {
            never.countDown()
            server.close()
        }
    }

    @Test
    fun cancellingTheCoroutineStopsTheSuspendCall() {
        HangingGateway().use { gateway ->
            clientFor(gateway.server.url).use { client ->
                runBlocking {
                    val job = launch(Dispatchers.Default, start = CoroutineStart.DEFAULT) { client.resolveToken("ws", "github") }
                    assertTrue(gateway.arrived.await(60, TimeUnit.SECONDS))
                    job.cancel()
                    job.join()
                    assertTrue(job.isCancelled)
                }
            }
        }
    }

    @Test
    fun interruptingTheThreadStopsTheBlockingCall() {
        HangingGateway().use { gateway ->
            clientFor(gateway.server.url).use { client ->
                val thrown = AtomicReference<Throwable?>()
                val caller = Thread {
                    try {
                        client.resolveTokenBlocking("ws", "github")
                    } catch (e: Throwable) {
                        thrown.set(e)
                    }
                }
                caller.start()
                assertTrue(gateway.arrived.await(60, TimeUnit.SECONDS))
                caller.interrupt()
                caller.join(60_000)
                assertTrue(!caller.isAlive, "the blocking call returned")
                assertTrue(thrown.get() is InterruptedException, "thrown: ${thrown.get()}")
            }
        }
    }
}
